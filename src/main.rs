fn main() {
    // Before any PIN or token exists: no core dumps, no same-user ptrace.
    if let Err(e) = glasskey::secret::harden_process() {
        eprintln!("error: {e}");
        eprintln!(
            "next: run glasskey on a system that allows prctl(PR_SET_DUMPABLE) and setrlimit"
        );
        std::process::exit(3);
    }
    std::process::exit(glasskey::cli::main());
}
