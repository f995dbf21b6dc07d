//! Demo data: written by a helper; placeholder so the crate builds.
