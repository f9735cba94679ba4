//! `hardwire`: the command line of the hardwire project.

mod cli;

fn main() -> anyhow::Result<()> {
    cli::run()
}
