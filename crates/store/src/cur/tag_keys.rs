//! The tag keys a workspace rolls up (`workspace_tag_keys`).
//!
//! Costs grouped by `tag:<key>` are answered from the daily tag rollups for the keys listed
//! here, and from line items for any other key. An ingest reads the list once, before it parses
//! (the worker sums the tag groups while parsing, or the swap computes them in SQL), so a change
//! applies to periods ingested afterwards.

use crate::{Scoped, StoreError, StoreResult};

/// The longest tag key accepted, in bytes.
const MAX_TAG_KEY_LEN: usize = 256;

/// The tag keys the workspace rolls up, sorted.
pub async fn tag_keys(scope: &mut Scoped) -> StoreResult<Vec<String>> {
    let ws = scope.workspace_id();
    Ok(sqlx::query_scalar(
        "SELECT tag_key FROM workspace_tag_keys WHERE workspace_id = $1 ORDER BY tag_key",
    )
    .bind(ws.as_uuid())
    .fetch_all(scope.tx())
    .await?)
}

/// Replaces the workspace's rolled-up tag keys. Takes effect for periods ingested afterwards
/// (or re-ingested by a backfill); until then `tag:<key>` costs are answered from line items.
pub async fn set_tag_keys(scope: &mut Scoped, keys: &[String]) -> StoreResult<()> {
    let ws = scope.workspace_id();
    check_tag_keys(keys)?;
    sqlx::query(
        "DELETE FROM workspace_tag_keys WHERE workspace_id = $1 AND NOT (tag_key = ANY($2))",
    )
    .bind(ws.as_uuid())
    .bind(keys)
    .execute(scope.tx())
    .await?;
    sqlx::query(
        "INSERT INTO workspace_tag_keys (workspace_id, tag_key)
         SELECT $1, k FROM unnest($2::text[]) k ON CONFLICT DO NOTHING",
    )
    .bind(ws.as_uuid())
    .bind(keys)
    .execute(scope.tx())
    .await?;
    Ok(())
}

/// `Conflict` naming the first key that is empty or longer than [`MAX_TAG_KEY_LEN`] bytes.
fn check_tag_keys(keys: &[String]) -> StoreResult<()> {
    match keys
        .iter()
        .find(|k| k.is_empty() || k.len() > MAX_TAG_KEY_LEN)
    {
        Some(k) => Err(StoreError::Conflict(format!(
            "tag key {k:?} must be 1 to {MAX_TAG_KEY_LEN} characters"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn keys_of_1_to_256_bytes_pass() {
        assert!(check_tag_keys(&[]).is_ok());
        assert!(check_tag_keys(&keys(&["Team", "aws:createdBy", &"k".repeat(256)])).is_ok());
    }

    #[test]
    fn the_first_bad_key_is_named() {
        let long = "k".repeat(257);
        for (list, named) in [
            (keys(&["Team", ""]), "\"\""),
            (keys(&["Team", &long, ""]), long.as_str()),
        ] {
            match check_tag_keys(&list) {
                Err(StoreError::Conflict(m)) => {
                    assert!(m.contains(named), "{m}");
                    assert!(m.ends_with("must be 1 to 256 characters"), "{m}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn length_counts_bytes() {
        // 128 two-byte characters are 256 bytes; one more is too long.
        assert!(check_tag_keys(&keys(&[&"é".repeat(128)])).is_ok());
        assert!(check_tag_keys(&keys(&[&"é".repeat(129)])).is_err());
    }
}
