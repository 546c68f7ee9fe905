//! Networks: their description ([`arch`]), initial weights ([`init`], [`backbone`]) and the burn
//! module that trains them ([`net`]).
pub mod arch;
pub mod backbone;
pub mod import;
pub mod init;
pub mod net;
pub mod store;
