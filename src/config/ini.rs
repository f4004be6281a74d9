//! INI files with the semantics of Python's `configparser.ConfigParser()`, which is what
//! upstream reads its configuration with, on top of the `ini` crate.
//!
//! What Python does and `ini` alone does not, this module adds:
//! - a line pass first that classifies each line as Python does (full-line `#`/`;`
//!   comments, also indented; continuation lines indented deeper than their key; a
//!   repeated section or key within one file is an error; a key before any section is an
//!   error), and hands `ini` a canonical text that it reads the same way;
//! - option names are case-insensitive, section names are not;
//! - `[DEFAULT]` shows through in every other section;
//! - across files, sections merge key by key and the last file wins;
//! - `%(name)s` interpolation against the section and DEFAULT, `%%` for a percent sign.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::error::{ConfigError, Origin};

/// The name of the section whose keys show through in every other section.
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// Python's `MAX_INTERPOLATION_DEPTH`.
const MAX_INTERPOLATION_DEPTH: usize = 10;

/// One `key = value` as read, before interpolation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// Lower-cased, as Python's `optionxform` does.
    pub key: String,
    pub raw: String,
    pub origin: Origin,
}

/// A section's own entries, in the order their keys first appeared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub entries: Vec<RawEntry>,
    /// The files that have this section's header, in the order they were read.
    pub files: Vec<PathBuf>,
}

impl Section {
    fn new(name: &str) -> Section {
        Section { name: name.to_string(), entries: Vec::new(), files: Vec::new() }
    }

    /// Sets `entry`, keeping the key's first position (a later file overrides).
    fn set(&mut self, entry: RawEntry) {
        match self.entries.iter_mut().find(|old| old.key == entry.key) {
            Some(old) => *old = entry,
            None => self.entries.push(entry),
        }
    }
}

/// A value after interpolation, with where its key was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub key: String,
    pub value: String,
    pub origin: Origin,
    /// True when the key comes from `[DEFAULT]` rather than the section itself.
    pub inherited: bool,
}

/// Everything read so far: DEFAULT plus the other sections in first-seen order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ini {
    default: Section,
    sections: Vec<Section>,
}

impl Default for Ini {
    fn default() -> Self {
        Ini { default: Section::new(DEFAULT_SECTION), sections: Vec::new() }
    }
}

impl Ini {
    /// Sets a built-in default, as upstream's `read_dict(DEFAULT_OPTIONS)` does.
    pub fn set_default(&mut self, section: &str, key: &str, value: &str) {
        let entry = RawEntry { key: key.to_string(), raw: value.to_string(), origin: Origin::Default };
        self.section_mut(section).set(entry);
    }

    fn section_mut(&mut self, name: &str) -> &mut Section {
        if name == DEFAULT_SECTION {
            return &mut self.default;
        }
        let index = match self.sections.iter().position(|s| s.name == name) {
            Some(index) => index,
            None => {
                self.sections.push(Section::new(name));
                self.sections.len() - 1
            }
        };
        &mut self.sections[index]
    }

    /// Reads one file and merges it over what was read before.
    pub fn read_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let bytes =
            std::fs::read(path).map_err(|err| ConfigError::in_file(path, format!("cannot read: {err}")))?;
        let text = String::from_utf8(bytes).map_err(|_| ConfigError::in_file(path, "is not valid UTF-8"))?;
        self.read_str(&text, path)
    }

    /// Reads `text` as if it were the file `path`.
    pub fn read_str(&mut self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let (canonical, opened_empty) = canonical_text(text, path)?;
        let options = ini::ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            enabled_indented_mutiline_value: true,
            ..ini::ParseOption::default()
        };
        let parsed = ini::Ini::load_from_str_opt(&canonical, options)
            .map_err(|err| ConfigError::in_file(path, format!("cannot parse: {err}")))?;
        for (name, properties) in parsed.iter() {
            // The line pass guarantees every key sits under a section header.
            let Some(name) = name else { continue };
            let section = self.section_mut(name);
            if !section.files.iter().any(|file| file == path) {
                section.files.push(path.to_path_buf());
            }
            for (key, value) in properties.iter() {
                // Python keeps the empty first line of a value continued below it.
                let opened = opened_empty.get(&(name.to_string(), key.to_string())).copied().unwrap_or(0);
                let raw = format!("{}{value}", "\n".repeat(opened));
                section.set(RawEntry { key: key.to_string(), raw, origin: Origin::File(path.to_path_buf()) });
            }
        }
        Ok(())
    }

    /// The names of the non-DEFAULT sections, in the order they were first read.
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections.iter().map(|s| s.name.as_str())
    }

    /// The files that have the header of section `name`, in reading order.
    pub fn files_of(&self, name: &str) -> &[PathBuf] {
        self.sections.iter().find(|s| s.name == name).map_or(&[], |s| &s.files)
    }

    /// The entries written in `name` itself (for DEFAULT: its own), before interpolation.
    pub fn own_entries(&self, name: &str) -> &[RawEntry] {
        if name == DEFAULT_SECTION {
            return &self.default.entries;
        }
        self.sections.iter().find(|s| s.name == name).map_or(&[], |s| &s.entries)
    }

    /// Every key visible in section `name`, interpolated: its own keys first, then the
    /// DEFAULT keys it does not override, as Python's `config[name].items()` lists them.
    pub fn resolve(&self, name: &str) -> Result<Vec<Resolved>, ConfigError> {
        let own = self.own_entries(name);
        let inherited = if name == DEFAULT_SECTION { &[][..] } else { &self.default.entries[..] };
        let lookup = |key: &str| -> Option<&RawEntry> {
            own.iter().find(|e| e.key == key).or_else(|| inherited.iter().find(|e| e.key == key))
        };
        let visible = own
            .iter()
            .map(|e| (e, false))
            .chain(inherited.iter().filter(|e| !own.iter().any(|o| o.key == e.key)).map(|e| (e, true)));
        visible
            .map(|(entry, is_inherited)| {
                let mut value = String::new();
                interpolate(&entry.raw, &lookup, &mut value, 1).map_err(|message| {
                    ConfigError::new(message)
                        .origin(entry.origin.clone())
                        .section(name)
                        .key(&entry.key)
                        .value(&entry.raw)
                })?;
                Ok(Resolved {
                    key: entry.key.clone(),
                    value,
                    origin: entry.origin.clone(),
                    inherited: is_inherited,
                })
            })
            .collect()
    }
}

/// The (lower-cased) key names that `raw` refers to with `%(name)s`.
pub fn references(raw: &str) -> Vec<String> {
    raw.replace("%%", "")
        .split("%(")
        .skip(1)
        .filter_map(|rest| rest.find(")s").map(|end| rest[..end].to_lowercase()))
        .collect()
}

/// Expands `%(name)s` and `%%` in `raw` into `out`, as Python's `BasicInterpolation`.
fn interpolate<'a>(
    raw: &str,
    lookup: &dyn Fn(&str) -> Option<&'a RawEntry>,
    out: &mut String,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_INTERPOLATION_DEPTH {
        return Err(format!(
            "interpolation is nested deeper than {MAX_INTERPOLATION_DEPTH} levels (a reference loop?)"
        ));
    }
    let mut rest = raw;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("%%") {
            out.push('%');
            rest = after;
        } else if let Some(after) = rest.strip_prefix("%(") {
            let reference = after
                .find(")s")
                .map(|end| &after[..end])
                .filter(|name| !name.is_empty() && !name.contains(')'));
            let Some(name) = reference else {
                return Err(format!("bad interpolation variable reference {rest:?}"));
            };
            rest = &after[name.len() + 2..];
            let key = name.to_lowercase();
            let Some(entry) = lookup(&key) else {
                return Err(format!(
                    "refers to '%({name})s' but no key {key:?} is set in this section or DEFAULT"
                ));
            };
            interpolate(&entry.raw, lookup, out, depth + 1)?;
        } else {
            return Err(format!(
                "'%' must be followed by '%' or '(', found: {rest:?}; write %% for a percent sign"
            ));
        }
    }
    out.push_str(rest);
    Ok(())
}

/// For each (section, key), the empty lines its value starts with.
type LeadingEmptyLines = HashMap<(String, String), usize>;

/// How Python classifies one line.
enum IniLine<'a> {
    Blank,
    Comment,
    Section(&'a str),
    Option { key: &'a str, value: &'a str },
    Continuation(&'a str),
}

/// Rewrites `text` into a form `ini` reads the way Python reads `text`, or says which
/// line Python would reject and why. Also, for each (section, key) whose value starts
/// with an empty line and goes on below it, how many empty lines it starts with:
/// `ini` trims them, Python keeps them.
fn canonical_text(text: &str, path: &Path) -> Result<(String, LeadingEmptyLines), ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = String::with_capacity(text.len() + 16);
    let mut section: Option<&str> = None;
    // Indentation of the key whose value continuation lines extend; None when there is
    // no such key (at the start, after a section header).
    let mut option_indent: Option<usize> = None;
    let mut sections_seen: HashSet<&str> = HashSet::new();
    let mut keys_seen: HashSet<(&str, String)> = HashSet::new();
    let mut opened_empty: HashMap<(String, String), usize> = HashMap::new();
    // The key whose first line was empty, while its value may still go on, and the
    // empty lines so far (blank ones count, comment lines do not, as in Python).
    let mut empty_key: Option<(&str, String, usize)> = None;
    for (index, raw_line) in text.lines().enumerate() {
        let number = index + 1;
        let fail = |message: String| Err(ConfigError::in_file(path, message).line(number));
        match classify(raw_line, option_indent) {
            IniLine::Blank => {
                if let Some((_, _, lines)) = empty_key.as_mut() {
                    *lines += 1;
                }
                out.push('\n');
            }
            IniLine::Comment => {}
            IniLine::Continuation(value) => {
                if let Some((section, key, lines)) = empty_key.take() {
                    opened_empty.insert((section.to_string(), key), lines);
                }
                out.push(' ');
                push_value(&mut out, value);
            }
            IniLine::Section(name) => {
                if name.contains(']') {
                    return fail(format!("section name [{name}] must not contain ']'"));
                }
                // Python lets [DEFAULT] open again (its keys still may not repeat).
                if name != DEFAULT_SECTION && !sections_seen.insert(name) {
                    return fail(format!("section [{name}] already exists in this file"));
                }
                section = Some(name);
                option_indent = None;
                empty_key = None;
                out.push('[');
                out.push_str(name);
                out.push_str("]\n");
            }
            IniLine::Option { key, value } => {
                let Some(current) = section else {
                    return fail("a key before any [section] header".to_string());
                };
                if key.is_empty() {
                    return fail(format!("a line with no key name: {:?}", raw_line.trim()));
                }
                // Python takes `[web2 = 1` as a key named `[web2`; it is far likelier a
                // section header that lost its ']', whose keys would land in the
                // section above.
                if key.starts_with('[') {
                    return fail(format!(
                        "{:?} is a key named {key:?} to Python: a section header without its ']'?",
                        raw_line.trim()
                    ));
                }
                let key = key.to_lowercase();
                if !keys_seen.insert((current, key.clone())) {
                    return fail(format!("key '{key}' in section [{current}] already exists in this file"));
                }
                option_indent = Some(indent_of(raw_line));
                empty_key = value.is_empty().then(|| (current, key.clone(), 1));
                out.push_str(&key);
                out.push('=');
                push_value(&mut out, value);
            }
        }
    }
    Ok((out, opened_empty))
}

fn classify(line: &str, option_indent: Option<usize>) -> IniLine<'_> {
    let stripped = line.trim();
    if stripped.is_empty() {
        return IniLine::Blank;
    }
    if stripped.starts_with('#') || stripped.starts_with(';') {
        return IniLine::Comment;
    }
    if option_indent.is_some_and(|indent| indent_of(line) > indent) {
        return IniLine::Continuation(stripped);
    }
    // Python: `\[(?P<header>.+)\]` matched at the start of the stripped line.
    if let Some(inner) = stripped.strip_prefix('[') {
        if let Some(end) = inner.rfind(']') {
            if end > 0 {
                return IniLine::Section(&inner[..end]);
            }
        }
    }
    // Python: the key is everything before the first `=` or `:`.
    match stripped.find(['=', ':']) {
        Some(at) => IniLine::Option { key: stripped[..at].trim_end(), value: stripped[at + 1..].trim() },
        None => IniLine::Option { key: "", value: "" },
    }
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Appends a value line. `ini` joins a line that ends in `\` with the next one; Python
/// keeps the backslash, so a space goes after it, which `ini` trims away again.
fn push_value(out: &mut String, value: &str) {
    out.push_str(value);
    if value.ends_with('\\') {
        out.push(' ');
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Ini, ConfigError> {
        let mut ini = Ini::default();
        ini.read_str(text, Path::new("t.conf"))?;
        Ok(ini)
    }

    fn value(ini: &Ini, section: &str, key: &str) -> String {
        let resolved = ini.resolve(section).expect("resolves");
        resolved.into_iter().find(|r| r.key == key).expect(key).value
    }

    #[test]
    fn pythons_edges_read_as_python_reads_them() {
        // A value whose first line is empty keeps its leading newlines (blank lines
        // count, comment lines do not).
        let ini = read("[web]\ncheck_cmd =\n\n  # note\n    /bin/true\n").expect("reads");
        assert_eq!(value(&ini, "web", "check_cmd"), "\n\n/bin/true");
        // [DEFAULT] may open twice; its keys still may not repeat.
        let ini = read("[DEFAULT]\na = 1\n[web]\n[DEFAULT]\nb = 2\n").expect("reads");
        assert_eq!((value(&ini, "web", "a"), value(&ini, "web", "b")), ("1".into(), "2".into()));
        assert!(read("[DEFAULT]\na = 1\n[DEFAULT]\na = 2\n").is_err());
        // `[web2 = 1`: a key named "[web2" to Python; refused, naming the line.
        let err = read("[web]\na = 1\n[web2 = 1\n").expect_err("refused").to_string();
        assert!(err.contains("t.conf:3:") && err.contains("section header without its ']'"), "{err}");
    }

    #[test]
    fn both_separators_and_comments_work() {
        let ini = read("# comment\n; another\n[s]\na = 1\nb: 2\n  # indented comment\nc=x # kept\n").unwrap();
        assert_eq!(value(&ini, "s", "a"), "1");
        assert_eq!(value(&ini, "s", "b"), "2");
        assert_eq!(value(&ini, "s", "c"), "x # kept");
    }

    #[test]
    fn option_names_fold_case_and_section_names_do_not() {
        let ini = read("[S]\nCHECK_CMD = /bin/true\n[s]\nx = 1\n").unwrap();
        assert_eq!(value(&ini, "S", "check_cmd"), "/bin/true");
        assert_eq!(ini.section_names().collect::<Vec<_>>(), ["S", "s"]);
    }

    #[test]
    fn continuation_lines_join_with_newlines() {
        let ini = read("[s]\na = one\n  two\n\n  three\nb = x\n").unwrap();
        assert_eq!(value(&ini, "s", "a"), "one\ntwo\n\nthree");
        assert_eq!(value(&ini, "s", "b"), "x");
    }

    #[test]
    fn a_trailing_backslash_is_kept_and_joins_nothing() {
        let ini = read("[s]\na = x \\\nb = y\n").unwrap();
        assert_eq!(value(&ini, "s", "a"), "x \\");
        assert_eq!(value(&ini, "s", "b"), "y");
    }

    #[test]
    fn default_shows_through_and_interpolates_per_section() {
        let ini = read("[DEFAULT]\nport = 80\ncmd = check %(host)s:%(port)s 100%%\n[a]\nhost = a.example\n[b]\nhost = b.example\nport = 81\n").unwrap();
        assert_eq!(value(&ini, "a", "cmd"), "check a.example:80 100%");
        assert_eq!(value(&ini, "b", "cmd"), "check b.example:81 100%");
        let keys: Vec<_> = ini.resolve("b").unwrap().into_iter().map(|r| (r.key, r.inherited)).collect();
        assert_eq!(keys, [("host".into(), false), ("port".into(), false), ("cmd".into(), true)]);
    }

    #[test]
    fn interpolation_errors_name_the_key() {
        for (raw, words) in [
            ("5%", "must be followed"),
            ("%(nope)s", "no key \"nope\""),
            ("%(a)s", "deeper"),
            ("%(x", "bad interpolation"),
        ] {
            let ini = read(&format!("[s]\na = {raw}\n")).unwrap();
            let message = ini.resolve("s").unwrap_err().to_string();
            assert!(message.contains(words), "{raw}: {message}");
            assert!(message.starts_with("t.conf: [s] a: "), "{message}");
        }
    }

    #[test]
    fn duplicates_within_one_file_are_errors() {
        let err = read("[a]\nx = 1\n[a]\n").unwrap_err().to_string();
        assert_eq!(err, "t.conf:3: section [a] already exists in this file");
        let err = read("[a]\nx = 1\nX = 2\n").unwrap_err().to_string();
        assert_eq!(err, "t.conf:3: key 'x' in section [a] already exists in this file");
    }

    #[test]
    fn later_files_override_key_by_key() {
        let mut ini = Ini::default();
        ini.read_str("[a]\nx = 1\ny = 1\n", Path::new("1.conf")).unwrap();
        ini.read_str("[a]\ny = 2\nz = 2\n", Path::new("2.conf")).unwrap();
        let resolved = ini.resolve("a").unwrap();
        let pairs: Vec<_> = resolved.iter().map(|r| (r.key.as_str(), r.value.as_str())).collect();
        assert_eq!(pairs, [("x", "1"), ("y", "2"), ("z", "2")]);
        assert_eq!(resolved[1].origin, Origin::File("2.conf".into()));
    }

    #[test]
    fn lines_python_rejects_are_rejected() {
        assert!(read("x = 1\n").unwrap_err().to_string().contains("before any [section]"));
        assert!(read("[a]\njust words\n")
            .unwrap_err()
            .to_string()
            .contains("t.conf:2: a line with no key name"));
        assert!(read("[a]\n= 3\n").is_err());
    }
}
