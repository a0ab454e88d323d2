//! Progress bars on stderr (hidden when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `unit`s towards `total`.
pub fn bar(total: u64, what: &str, bytes: bool) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let tmpl = if bytes {
        "{msg:10} [{bar:40.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{msg:10} [{bar:40.cyan/blue}] {human_pos}/{human_len} {per_sec} eta {eta}"
    };
    bar.set_style(ProgressStyle::with_template(tmpl).expect("valid template").progress_chars("=> "));
    bar.set_message(what.to_string());
    bar
}
