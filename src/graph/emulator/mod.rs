//! (emulator being written)
