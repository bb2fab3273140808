mod helpers;
mod login;
mod me;
mod otp;
mod register;
mod routes;
mod tokens;
