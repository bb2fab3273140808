//! Columns by name from a row of either driver: sqlx's `AnyRow` (the pooled
//! path, both databases) or rusqlite's `Row` (the direct SQLite path), so a
//! row is decoded by one function whichever driver read it.

use sqlx::Row as _;
use sqlx::ValueRef as _;
use sqlx::any::{AnyRow, AnyTypeInfoKind};

use crate::error::{Error, Result};

pub(crate) trait Cols {
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
    /// A flag column: a boolean on PostgreSQL, an integer on SQLite.
    fn flag(&self, col: &str) -> Result<bool>;
}

impl Cols for AnyRow {
    fn text(&self, col: &str) -> Result<String> {
        Ok(self.try_get(col)?)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        Ok(self.try_get(col)?)
    }
    fn int(&self, col: &str) -> Result<i64> {
        Ok(self.try_get(col)?)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        Ok(self.try_get(col)?)
    }
    fn flag(&self, col: &str) -> Result<bool> {
        if self.try_get_raw(col)?.type_info().kind() == AnyTypeInfoKind::Bool {
            Ok(self.try_get(col)?)
        } else {
            Ok(self.try_get::<i64, _>(col)? != 0)
        }
    }
}

impl Cols for rusqlite::Row<'_> {
    fn text(&self, col: &str) -> Result<String> {
        self.get(col).map_err(Error::internal)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        self.get(col).map_err(Error::internal)
    }
    fn int(&self, col: &str) -> Result<i64> {
        self.get(col).map_err(Error::internal)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        self.get(col).map_err(Error::internal)
    }
    fn flag(&self, col: &str) -> Result<bool> {
        Ok(self.int(col)? != 0)
    }
}
