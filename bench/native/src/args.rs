//! `--key value` arguments; the bench passes every value, so there are few defaults.
use std::collections::HashMap;

pub struct Args(HashMap<String, String>);

impl Args {
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        let mut m = HashMap::new();
        let mut it = argv.iter();
        while let Some(k) = it.next() {
            let key = k
                .strip_prefix("--")
                .ok_or_else(|| format!("expected --key, got {k}"))?;
            let val = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
            m.insert(key.to_string(), val.clone());
        }
        Ok(Args(m))
    }

    fn get(&self, key: &str) -> Result<&str, String> {
        self.0
            .get(key)
            .map(|s| s.as_str())
            .ok_or_else(|| format!("missing --{key}"))
    }

    pub fn num(&self, key: &str) -> Result<usize, String> {
        let v = self.get(key)?;
        v.parse().map_err(|_| format!("--{key}: not a number: {v}"))
    }

    pub fn num_or(&self, key: &str, default: usize) -> Result<usize, String> {
        if self.0.contains_key(key) {
            self.num(key)
        } else {
            Ok(default)
        }
    }

    pub fn hex(&self, key: &str) -> Result<Vec<u8>, String> {
        let s = self.get(key)?.as_bytes();
        if s.len() % 2 != 0 {
            return Err(format!("--{key}: odd hex length"));
        }
        let nib = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(format!("--{key}: not hex")),
        };
        s.chunks(2)
            .map(|p| Ok(nib(p[0])? << 4 | nib(p[1])?))
            .collect()
    }
}
