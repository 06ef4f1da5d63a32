//! Domain names: a sequence of labels, compared without regard to ASCII
//! case (RFC 4343), at most 63 octets a label and 255 octets in wire form
//! (RFC 1035 §2.3.4). IDNA is out of scope: labels are octets.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::Ipv4Addr;

/// Longest label, in octets.
pub const MAX_LABEL_LEN: usize = 63;
/// Longest name in wire form (length octets and the root's zero included).
pub const MAX_NAME_LEN: usize = 255;

/// Why a name is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// A label is empty (`a..b`, or a leading dot).
    EmptyLabel,
    /// A label is longer than 63 octets.
    LabelTooLong,
    /// The name is longer than 255 octets in wire form.
    NameTooLong,
    /// A `\` escape is malformed.
    BadEscape,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameError::EmptyLabel => "empty label",
            NameError::LabelTooLong => "label longer than 63 octets",
            NameError::NameTooLong => "name longer than 255 octets",
            NameError::BadEscape => "bad escape sequence",
        })
    }
}

impl std::error::Error for NameError {}

/// An absolute domain name. The case of the labels is kept (it is echoed
/// back in answers) but ignored by `==`, `Hash` and `Ord`.
#[derive(Clone, Default)]
pub struct Name {
    labels: Vec<Box<[u8]>>,
}

impl Name {
    /// The root, `.`.
    pub fn root() -> Name {
        Name { labels: Vec::new() }
    }

    /// Parses presentation format (RFC 1035 §5.1): labels separated by
    /// dots, `\.`/`\\`/`\X` and `\DDD` escapes; a trailing dot is allowed
    /// and ignored (every `Name` is absolute); `.` alone is the root.
    pub fn parse(text: &str) -> Result<Name, NameError> {
        if text == "." {
            return Ok(Name::root());
        }
        if text.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        let (labels, _) = split_labels(text)?;
        Name::from_labels(labels)
    }

    /// A name from raw labels, checking the length limits.
    pub fn from_labels<L: AsRef<[u8]>>(labels: impl IntoIterator<Item = L>) -> Result<Name, NameError> {
        let mut out = Vec::new();
        let mut len = 1;
        for l in labels {
            let l = l.as_ref();
            if l.is_empty() {
                return Err(NameError::EmptyLabel);
            }
            if l.len() > MAX_LABEL_LEN {
                return Err(NameError::LabelTooLong);
            }
            len += 1 + l.len();
            if len > MAX_NAME_LEN {
                return Err(NameError::NameTooLong);
            }
            out.push(Box::from(l));
        }
        Ok(Name { labels: out })
    }

    /// The labels, leftmost first.
    pub fn labels(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        self.labels.iter().map(|l| &l[..])
    }

    /// Number of labels; 0 for the root.
    pub fn label_count(&self) -> usize {
        self.labels.len()
    }

    /// True for the root name (no labels).
    pub fn is_root(&self) -> bool {
        self.labels.is_empty()
    }

    /// Length in wire form, uncompressed.
    pub fn wire_len(&self) -> usize {
        1 + self.labels.iter().map(|l| 1 + l.len()).sum::<usize>()
    }

    /// True if `self` is `zone` or below it.
    pub fn is_in(&self, zone: &Name) -> bool {
        let n = zone.labels.len();
        self.labels.len() >= n
            && self.labels[self.labels.len() - n..].iter().zip(&zone.labels).all(|(a, b)| a.eq_ignore_ascii_case(b))
    }

    /// The name one label up; the root has no parent.
    pub fn parent(&self) -> Option<Name> {
        (!self.labels.is_empty()).then(|| Name { labels: self.labels[1..].to_vec() })
    }

    /// `self` followed by `suffix` (`www` + `example.com`), within limits.
    pub fn join(&self, suffix: &Name) -> Result<Name, NameError> {
        Name::from_labels(self.labels.iter().chain(&suffix.labels))
    }

    /// `d.c.b.a.in-addr.arpa` for `a.b.c.d` (RFC 1035 §3.5).
    pub fn reverse_ipv4(addr: Ipv4Addr) -> Name {
        let [a, b, c, d] = addr.octets();
        let labels = [d, c, b, a].map(|o| o.to_string());
        Name::from_labels(labels.iter().map(|s| s.as_bytes()).chain([&b"in-addr"[..], b"arpa"])).expect("short name")
    }

    /// The same name with every label in lower case.
    pub fn to_lowercase(&self) -> Name {
        Name { labels: self.labels.iter().map(|l| l.to_ascii_lowercase().into_boxed_slice()).collect() }
    }

    /// The name in `domain`'s form, for the wire.
    pub fn to_wire(&self) -> domain::base::Name<Vec<u8>> {
        let mut octets = Vec::with_capacity(self.wire_len());
        for l in &self.labels {
            octets.push(l.len() as u8);
            octets.extend_from_slice(l);
        }
        octets.push(0);
        domain::base::Name::from_octets(octets).expect("limits checked when the name was made")
    }

    /// A name read from the wire (`domain` checked its limits; they are
    /// checked again here).
    pub fn from_domain<N: domain::base::ToName + ?Sized>(name: &N) -> Result<Name, NameError> {
        Name::from_labels(name.iter_labels().filter(|l| !l.is_root()).map(|l| l.as_slice()))
    }
}

/// Splits presentation text into unescaped labels; the flag tells whether
/// the text ended with an unescaped dot (an absolute name).
pub(crate) fn split_labels(text: &str) -> Result<(Vec<Vec<u8>>, bool), NameError> {
    let bytes = text.as_bytes();
    let mut labels = Vec::new();
    let mut cur = Vec::new();
    let mut i = 0;
    let mut absolute = false;
    while i < bytes.len() {
        absolute = false;
        match bytes[i] {
            b'.' => {
                if cur.is_empty() {
                    return Err(NameError::EmptyLabel);
                }
                labels.push(std::mem::take(&mut cur));
                absolute = true;
                i += 1;
            }
            b'\\' => {
                let rest = &bytes[i + 1..];
                match rest {
                    [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
                        let v = u32::from(a - b'0') * 100 + u32::from(b - b'0') * 10 + u32::from(c - b'0');
                        cur.push(u8::try_from(v).map_err(|_| NameError::BadEscape)?);
                        i += 4;
                    }
                    [a, ..] if !a.is_ascii_digit() => {
                        cur.push(*a);
                        i += 2;
                    }
                    _ => return Err(NameError::BadEscape),
                }
            }
            c => {
                cur.push(c);
                i += 1;
            }
        }
    }
    if !cur.is_empty() {
        labels.push(cur);
    } else if !absolute && !labels.is_empty() {
        return Err(NameError::EmptyLabel);
    }
    Ok((labels, absolute))
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.labels.len() == other.labels.len()
            && self.labels.iter().zip(&other.labels).all(|(a, b)| a.eq_ignore_ascii_case(b))
    }
}

impl Eq for Name {}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.labels.len());
        for l in &self.labels {
            state.write_usize(l.len());
            for b in l.iter() {
                state.write_u8(b.to_ascii_lowercase());
            }
        }
    }
}

impl Ord for Name {
    /// Canonical DNS order (RFC 4034 §6.1): by labels from the right,
    /// case-insensitively.
    fn cmp(&self, other: &Name) -> Ordering {
        for (a, b) in self.labels.iter().rev().zip(other.labels.iter().rev()) {
            let o = a.iter().map(u8::to_ascii_lowercase).cmp(b.iter().map(u8::to_ascii_lowercase));
            if o != Ordering::Equal {
                return o;
            }
        }
        self.labels.len().cmp(&other.labels.len())
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Name {
    /// Presentation format without the trailing dot (`.` for the root),
    /// with `.`, `\` and non-printable octets escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.labels.is_empty() {
            return f.write_str(".");
        }
        for (i, l) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            for &b in l.iter() {
                match b {
                    b'.' | b'\\' | b'"' | b';' | b'(' | b')' => write!(f, "\\{}", b as char)?,
                    0x21..=0x7e => write!(f, "{}", b as char)?,
                    _ => write!(f, "\\{b:03}")?,
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

impl std::str::FromStr for Name {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Name, NameError> {
        Name::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_ignores_case_and_trailing_dot() {
        assert_eq!(Name::parse("WWW.Example.COM.").unwrap(), Name::parse("www.example.com").unwrap());
        assert_ne!(Name::parse("www.example.com").unwrap(), Name::parse("ww.example.com").unwrap());
        let a = Name::parse("a.example.com").unwrap();
        assert!(a.is_in(&Name::parse("EXAMPLE.com").unwrap()));
        assert!(a.is_in(&Name::root()));
        assert!(!Name::parse("example.com").unwrap().is_in(&a));
    }

    #[test]
    fn limits_are_enforced() {
        assert_eq!(Name::parse(&"a".repeat(64)), Err(NameError::LabelTooLong));
        assert!(Name::parse(&"a".repeat(63)).is_ok());
        // 4 labels of 63: 4 × 64 + 1 = 257 > 255.
        let long = vec!["a".repeat(63); 4].join(".");
        assert_eq!(Name::parse(&long), Err(NameError::NameTooLong));
        // 3 × 64 + 62 + 1 = 255: the longest name.
        let max = format!("{}.{}", vec!["a".repeat(63); 3].join("."), "b".repeat(61));
        assert_eq!(Name::parse(&max).unwrap().wire_len(), 255);
        assert_eq!(Name::parse("a..b"), Err(NameError::EmptyLabel));
    }

    #[test]
    fn escapes_round_trip() {
        let n = Name::parse(r"a\.b.c\065").unwrap();
        assert_eq!(n.labels().next().unwrap(), b"a.b");
        assert_eq!(n.labels().nth(1).unwrap(), b"cA");
        assert_eq!(n.to_string(), r"a\.b.cA");
        assert_eq!(Name::parse(&n.to_string()).unwrap(), n);
        assert_eq!(Name::parse(r"a\256"), Err(NameError::BadEscape));
    }

    #[test]
    fn reverse_names() {
        assert_eq!(Name::reverse_ipv4(Ipv4Addr::new(192, 0, 2, 7)).to_string(), "7.2.0.192.in-addr.arpa");
    }
}
