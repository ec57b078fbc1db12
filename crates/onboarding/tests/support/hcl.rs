//! Reads the top-level blocks of a `terraform fmt`-formatted file by their layout: a block opens
//! with `kind "label" … {` at column 0 and closes with `}` alone at column 0. Enough to list
//! variables, outputs, resources and their top-level attributes.

/// One top-level block.
pub struct Block {
    pub labels: Vec<String>,
    pub body: String,
}

impl Block {
    /// The raw expression of a top-level attribute of this block (`name = expression`), if any.
    pub fn attribute(&self, name: &str) -> Option<String> {
        self.body.lines().find_map(|line| {
            // Top-level attributes are indented by exactly two spaces.
            let line = line.strip_prefix("  ")?;
            if line.starts_with(' ') {
                return None;
            }
            let (key, value) = line.split_once('=')?;
            (key.trim() == name).then(|| value.trim().to_owned())
        })
    }

    /// The attribute's value when it is a plain string literal.
    pub fn string_attribute(&self, name: &str) -> Option<String> {
        let raw = self.attribute(name)?;
        serde_json::from_str(&raw).ok()
    }
}

/// Every top-level block of `kind` in `source`.
pub fn blocks(source: &str, kind: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut lines = source.lines();
    while let Some(line) = lines.next() {
        let Some(header) = line.strip_prefix(kind).and_then(|h| h.strip_prefix(' ')) else {
            continue;
        };
        let header = header.trim_end();
        if header.ends_with("{}") {
            found.push(Block {
                labels: labels(header.trim_end_matches("{}")),
                body: String::new(),
            });
            continue;
        }
        let header = header.strip_suffix('{').expect("block header ends with {");
        let mut body = String::new();
        for line in lines.by_ref() {
            if line == "}" {
                break;
            }
            body.push_str(line);
            body.push('\n');
        }
        found.push(Block {
            labels: labels(header),
            body,
        });
    }
    found
}

fn labels(header: &str) -> Vec<String> {
    header
        .split_whitespace()
        .map(|label| {
            serde_json::from_str::<String>(label)
                .unwrap_or_else(|_| panic!("block label {label} is not a quoted string"))
        })
        .collect()
}
