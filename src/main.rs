fn main() {
    std::process::exit(glasskey::cli::main());
}
