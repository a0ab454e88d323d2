//! Link `truyvet` as a position-dependent executable on Linux.
//!
//! The binary carries DataFusion, Arrow and the server: about 270,000 pointers in its read-only
//! data that a position-independent executable has the dynamic loader relocate, page by page,
//! at every start, before `main` runs: several milliseconds of a `truyvet trace` that itself
//! takes a few. Linked at a fixed address, those pointers are final in the file and the loader
//! touches nothing. The cost is address-space randomisation of the executable's own image
//! (libraries, heap and stack stay randomised).
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
