//! Reports: the PDF rendering of a report's aggregated figures.

pub mod pdf;
