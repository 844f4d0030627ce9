//! Benchmarks of streampack: criterion benches of the core's hot paths (`benches/`).
