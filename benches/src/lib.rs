//! Benchmarks for ws-proto live under `benches/`.
