/// The largest page any listing returns.
const MAX_PAGE_SIZE: u32 = 1000;

/// How many rows one page of a listing holds: 1 to 1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    /// Parses the request's `page_size`: 0 means `default`.
    pub fn parse(raw: i32, default: u32) -> Result<Self, String> {
        match u32::try_from(raw) {
            Ok(0) => Ok(Self(default.clamp(1, MAX_PAGE_SIZE))),
            Ok(size) if size <= MAX_PAGE_SIZE => Ok(Self(size)),
            _ => Err(format!(
                "must be 1 to {MAX_PAGE_SIZE} (or 0 for {default}), got {raw}"
            )),
        }
    }

    /// The page size.
    pub fn get(self) -> u32 {
        self.0
    }

    /// How many rows to fetch: one more than the page, so that a row left
    /// over says there is a next page.
    pub fn fetch_limit(self) -> u32 {
        self.0 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_the_default_and_the_range_is_checked() {
        assert_eq!(PageSize::parse(0, 50), Ok(PageSize(50)));
        assert_eq!(PageSize::parse(1000, 50).map(PageSize::get), Ok(1000));
        assert_eq!(PageSize::parse(1, 50).map(PageSize::fetch_limit), Ok(2));
        assert!(PageSize::parse(1001, 50).is_err());
        assert!(PageSize::parse(-1, 50).is_err());
    }
}
