//! STS role session names: they identify the workspace in the customer's CloudTrail.

use costline_domain::WorkspaceId;

/// The session name for calls made on behalf of `workspace`: `costline-` and the workspace id's
/// 32 hex digits (41 characters).
///
/// The whole id, not a prefix: workspace ids are UUID v7, whose leading digits are a timestamp,
/// so two workspaces created in the same minute share their first eight.
pub fn workspace_session_name(workspace: WorkspaceId) -> String {
    format!("costline-{}", workspace.as_uuid().simple())
}

/// Makes `raw` a valid STS role session name (`[\w+=,.@-]{2,64}`): other characters become `-`,
/// the name is cut to 64 characters and a name shorter than 2 is padded (an empty one becomes
/// `costline`).
pub fn sanitize_session_name(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    match name.len() {
        0 => "costline".to_string(),
        1 => {
            name.push('-');
            name
        }
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        (2..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    }

    #[test]
    fn workspace_names_are_valid_and_distinct() {
        let a = workspace_session_name(WorkspaceId::new());
        let b = workspace_session_name(WorkspaceId::new());
        assert!(valid(&a), "{a}");
        assert_eq!(a.len(), 41);
        assert!(a.starts_with("costline-"));
        assert_ne!(a, b);
        assert_eq!(sanitize_session_name(&a), a);
    }

    #[test]
    fn anything_becomes_a_valid_name() {
        for raw in [
            "",
            "x",
            "costline workspace/é",
            "a:b;c",
            &"z".repeat(200),
            "ok_name+=,.@-",
        ] {
            let name = sanitize_session_name(raw);
            assert!(valid(&name), "{raw:?} -> {name:?}");
        }
        assert_eq!(sanitize_session_name("ok_name+=,.@-"), "ok_name+=,.@-");
        assert_eq!(sanitize_session_name("a b/c"), "a-b-c");
        assert_eq!(sanitize_session_name("é"), "--");
    }
}
