//! Writes the fuzz targets' seed corpora (`hardwire_model::fuzz_entry::seeds`) under the folder
//! given, one subfolder per target: `cargo run -p hardwire-model --example fuzz_seeds -- DIR`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: fuzz_seeds OUTPUT_DIR")?,
    );
    for (target, name, bytes) in hardwire_model::fuzz_entry::seeds()? {
        let d = dir.join(target);
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join(&name), &bytes)?;
        println!("{target}/{name}: {} bytes", bytes.len());
    }
    Ok(())
}
