//! Just enough DER to read when an X.509 certificate expires (`check_tls_min_days`):
//! rustls verifies certificates but does not say when they end. Certificate →
//! tbsCertificate → [version] serial signature issuer validity → notAfter.

/// Seconds since the Unix epoch at which the certificate stops being valid, or `None`
/// when `der` is not a certificate this reader understands.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (certificate, _) = element(der, SEQUENCE)?;
    let (mut tbs, _) = element(certificate, SEQUENCE)?;
    if tbs.first() == Some(&EXPLICIT_VERSION) {
        tbs = element(tbs, EXPLICIT_VERSION)?.1;
    }
    let tbs = element(tbs, INTEGER)?.1; // serialNumber
    let tbs = element(tbs, SEQUENCE)?.1; // signature algorithm
    let tbs = element(tbs, SEQUENCE)?.1; // issuer
    let (validity, _) = element(tbs, SEQUENCE)?;
    let after_not_before = skip_time(validity)?;
    let tag = *after_not_before.first()?;
    let (text, _) = element(after_not_before, tag)?;
    parse_time(tag, text)
}

const INTEGER: u8 = 0x02;
const SEQUENCE: u8 = 0x30;
const EXPLICIT_VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The content of the element at the start of `input` if its tag is `tag`, and what
/// follows it.
fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes.iter().fold(0usize, |length, b| (length << 8) | usize::from(*b))
    };
    (rest.len() >= length).then(|| rest.split_at(length))
}

fn skip_time(input: &[u8]) -> Option<&[u8]> {
    let tag = *input.first()?;
    if tag != UTC_TIME && tag != GENERALIZED_TIME {
        return None;
    }
    Some(element(input, tag)?.1)
}

/// `YYMMDDHHMMSSZ` (UTCTime, years 1950-2049) or `YYYYMMDDHHMMSSZ`.
fn parse_time(tag: u8, text: &[u8]) -> Option<i64> {
    let digits = text.strip_suffix(b"Z")?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let number = |from: usize, len: usize| -> Option<i64> {
        digits.get(from..from + len)?.iter().try_fold(0i64, |n, d| Some(n * 10 + i64::from(d - b'0')))
    };
    let (year, rest) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = number(0, 2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (GENERALIZED_TIME, 14) => (number(0, 4)?, 4),
        _ => return None,
    };
    let month = number(rest, 2)?;
    let day = number(rest + 2, 2)?;
    let (hour, minute, second) = (number(rest + 4, 2)?, number(rest + 6, 2)?, number(rest + 8, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_both_encodings() {
        assert_eq!(parse_time(UTC_TIME, b"700101000000Z"), Some(0));
        assert_eq!(parse_time(UTC_TIME, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(parse_time(GENERALIZED_TIME, b"20380119031408Z"), Some(2_147_483_648));
        assert_eq!(parse_time(UTC_TIME, b"240229120000Z"), Some(1_709_208_000));
        for bad in [&b"700101000000"[..], b"7001010000Z", b"701301000000Z", b"70010100000aZ"] {
            assert_eq!(parse_time(UTC_TIME, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn long_form_lengths_and_truncation() {
        let mut long = vec![SEQUENCE, 0x81, 0x80];
        long.extend([0u8; 0x80]);
        assert_eq!(element(&long, SEQUENCE).map(|(c, r)| (c.len(), r.len())), Some((0x80, 0)));
        assert_eq!(element(&long[..50], SEQUENCE), None);
        assert_eq!(element(&[SEQUENCE, 0x80], SEQUENCE), None);
        assert_eq!(element(&[INTEGER, 0], SEQUENCE), None);
    }

    /// A certificate made by `openssl req -x509 -days 3650 -subj /CN=localhost` (EC key)
    /// on 2026-11-30; `openssl x509 -enddate` says notAfter=Nov 27 01:07:34 2036 GMT.
    const CERTIFICATE: &str = "MIIBfTCCASOgAwIBAgIUffJZbPX0Eey2Zw3/35HeQ+oeY1UwCgYIKoZIzj0EAwIwFDESMBAGA1UEAwwJbG9jYWxob3N0MB4XDTI2MTEzMDAxMDczNFoXDTM2MTEyNzAxMDczNFowFDESMBAGA1UEAwwJbG9jYWxob3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAESXXe0rwyjRFsGMawlMh6pv6rXk8Mwf5sgLV/u8oazLrjTsWh4hkI7XtbO2og7vs3Oun4l5qHWzX4a2XBVfzT/qNTMFEwHQYDVR0OBBYEFOlG9FTh2XQrUoAqesb6bam/NGhdMB8GA1UdIwQYMBaAFOlG9FTh2XQrUoAqesb6bam/NGhdMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgDKdorlWU7WeIyN9rbxvAIoxKvJyM23cAcgBNXVOHjoMCIQCQP5nlJDAze06anw54yp5IMbDhncQGsotvDG909Lljyg==";

    #[test]
    fn reads_not_after_from_a_real_certificate_and_nothing_from_its_pieces() {
        let der = base64(CERTIFICATE);
        assert_eq!(not_after(&der), Some(2_111_360_854));
        for cut in 0..der.len() - 1 {
            // Every truncation either still reaches the validity (the tail is not
            // read) or says None; none panics or reads a wrong date.
            assert!(matches!(not_after(&der[..cut]), None | Some(2_111_360_854)), "{cut}");
        }
    }

    fn base64(text: &str) -> Vec<u8> {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits = 0u32;
        let mut count = 0;
        let mut out = Vec::new();
        for c in text.bytes().filter(|c| *c != b'=') {
            let value = alphabet.iter().position(|a| *a == c).unwrap() as u32;
            bits = (bits << 6) | value;
            count += 6;
            if count >= 8 {
                count -= 8;
                out.push((bits >> count) as u8);
            }
        }
        out
    }
}
