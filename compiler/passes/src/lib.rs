//! Passes over graph IR and the pass manager that runs, prints and verifies them.
