//! `sqlx::migrate!` embeds `migrations/` when this crate compiles; a migration added without
//! another change here must rebuild it too (sqlx's documented build script).
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
