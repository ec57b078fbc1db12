//! The part of Terraform's template language the module's `.json.tftpl` files use:
//! `${name}` interpolation, `$${` escapes and `%{ if name != "" }…%{ endif }`. Anything else
//! panics. When `terraform` is installed, `terraform_render` checks this against the real thing.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Renders `template` with string `vars`.
pub fn render(template: &str, vars: &BTreeMap<&str, &str>) -> String {
    let mut out = String::new();
    // Each entry: whether the enclosing `if` branch is being output.
    let mut branches: Vec<bool> = Vec::new();
    let mut rest = template;
    loop {
        let next = [rest.find("${"), rest.find("%{")]
            .into_iter()
            .flatten()
            .min();
        let Some(start) = next else {
            if branches.iter().all(|b| *b) {
                out.push_str(rest);
            }
            break;
        };
        let active = branches.iter().all(|b| *b);
        let escaped = start > 0 && rest.as_bytes()[start - 1] == rest.as_bytes()[start];
        if active {
            out.push_str(&rest[..if escaped { start - 1 } else { start }]);
        }
        let sigil = &rest[start..start + 2];
        let after = &rest[start + 2..];
        let end = after.find('}').expect("closing brace in template");
        let body = &after[..end];
        rest = &after[end + 1..];
        if escaped {
            if active {
                out.push_str(sigil);
                out.push_str(body);
                out.push('}');
            }
            continue;
        }
        assert!(
            !body.contains('~'),
            "strip markers are not supported: {body}"
        );
        let body = body.trim();
        if sigil == "${" {
            if active {
                let value = vars
                    .get(body)
                    .unwrap_or_else(|| panic!("template variable {body} is not bound"));
                out.push_str(value);
            }
        } else if let Some(condition) = body.strip_prefix("if ") {
            let name = condition
                .trim()
                .strip_suffix("!= \"\"")
                .unwrap_or_else(|| panic!("only `if name != \"\"` is supported: {condition}"))
                .trim();
            let value = vars
                .get(name)
                .unwrap_or_else(|| panic!("template variable {name} is not bound"));
            branches.push(!value.is_empty());
        } else if body == "endif" {
            branches.pop().expect("endif without if");
        } else {
            panic!("template directive %{{{body}}} is not supported");
        }
    }
    assert!(branches.is_empty(), "if without endif");
    out
}

/// Renders `template_path` with the real `terraform console`, when terraform is installed.
pub fn terraform_render(template_path: &Path, vars: &BTreeMap<&str, &str>) -> Option<String> {
    let version = Command::new("terraform").arg("version").output().ok()?;
    if !version.status.success() {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("costline-tftpl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let object: Vec<String> = vars
        .iter()
        .map(|(k, v)| format!("{k} = {}", serde_json::to_string(v).expect("string")))
        .collect();
    // jsonencode of the rendered string: one line of output, easy to read back.
    let expression = format!(
        "jsonencode(templatefile({}, {{ {} }}))\n",
        serde_json::to_string(&template_path.display().to_string()).expect("path"),
        object.join(", ")
    );
    let mut child = Command::new("terraform")
        .arg("console")
        .current_dir(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(expression.as_bytes()).expect("write");
    }
    let output = child.wait_with_output().expect("terraform console");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "terraform console failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    // The console prints the HCL string literal of the JSON-encoded string.
    let literal = stdout.trim();
    let json_text: String = serde_json::from_str(literal)
        .unwrap_or_else(|e| panic!("unexpected terraform console output {literal:?}: {e}"));
    Some(serde_json::from_str(&json_text).expect("jsonencode of a string"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_interpolations_ifs_and_escapes() {
        let vars = BTreeMap::from([("a", "1"), ("empty", ""), ("full", "x")]);
        assert_eq!(render("<${a}>", &vars), "<1>");
        assert_eq!(render("$${a}", &vars), "${a}");
        assert_eq!(render("[%{ if empty != \"\" }no%{ endif }]", &vars), "[]");
        assert_eq!(
            render("[%{ if full != \"\" }${full}%{ endif }]", &vars),
            "[x]"
        );
    }
}
