//! The docs run as printed: command lines, crontabs, units and hooks taken
//! from the pages' own text and run as an operator would run them.

mod deploy;
mod newcomer;
mod rollover;
mod rotation;
mod vault;
