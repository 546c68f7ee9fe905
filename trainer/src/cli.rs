//! Value parsers for the command line's numbers.

/// A finite number above 0.
pub fn positive(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(v) => Err(format!("{v} is not a positive number")),
        Err(e) => Err(format!("`{s}`: {e}")),
    }
}

/// A number from 0 to 1.
pub fn unit_interval(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{v} is outside 0..1")),
        Err(e) => Err(format!("`{s}`: {e}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_out_of_range_are_refused_with_the_value() {
        assert_eq!(super::positive("0.7"), Ok(0.7));
        assert!(super::positive("0").unwrap_err().contains("not a positive"));
        assert!(super::positive("inf").is_err() && super::positive("x").unwrap_err().contains("`x`"));
        assert_eq!(super::unit_interval("1"), Ok(1.0));
        assert!(super::unit_interval("1.5").unwrap_err().contains("outside 0..1"));
    }
}
