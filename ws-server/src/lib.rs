//! Blocking std driver for `ws-proto` (under construction).
