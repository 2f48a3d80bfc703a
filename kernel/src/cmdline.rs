//! The kernel command line: space-separated words, `key=value` or flags.

/// A parsed view of the command line.
pub struct CommandLine<'a>(&'a str);

impl<'a> CommandLine<'a> {
    /// Wrap a command line.
    pub fn new(s: &'a str) -> Self {
        CommandLine(s)
    }

    /// The value of `key=value`, if present (the last one wins).
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.0
            .split_ascii_whitespace()
            .filter_map(|w| w.split_once('='))
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .next_back()
    }

    /// Whether `key=value` is present with exactly this value.
    pub fn is(&self, key: &str, value: &str) -> bool {
        self.get(key) == Some(value)
    }
}
