//! Embeds the browser client (`web/`) with memory-serve: in release builds its files are compressed here,
//! at build time; debug builds read them from disk at each request, so edits show on reload.
fn main() {
    memory_serve::load_directory("web");
}
