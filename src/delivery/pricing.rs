//! Prices of outbound segments by destination country.

use std::collections::HashMap;
use switchboard_domain::address;

/// Per-segment prices (USD) by ISO country, with a default for the rest.
#[derive(Debug, Clone)]
pub struct PriceTable {
    /// Country → price of one segment.
    pub countries: HashMap<String, f64>,
    /// Price where the country is unknown or not listed.
    pub default: f64,
}

impl Default for PriceTable {
    /// Illustrative list prices (USD per outbound segment); configure your own with `--price`.
    fn default() -> Self {
        let countries =
            [("US", 0.0079), ("CA", 0.0079), ("GB", 0.0463), ("DE", 0.0921), ("FR", 0.0814), ("IN", 0.0832)]
                .into_iter()
                .map(|(c, p)| (c.to_string(), p))
                .collect();
        PriceTable { countries, default: 0.05 }
    }
}

impl PriceTable {
    /// Parses `COUNTRY=PRICE` (or `default=PRICE`) into the table.
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (key, value) = spec.split_once('=').ok_or_else(|| format!("price {spec:?} must be COUNTRY=PRICE"))?;
        let price: f64 =
            value.trim().trim_start_matches('-').parse().map_err(|_| format!("price {spec:?}: not a number"))?;
        if !(price.is_finite() && price >= 0.0) {
            return Err(format!("price {spec:?} must be a non-negative number"));
        }
        match key.trim() {
            "default" => self.default = price,
            k if k.len() == 2 && k.bytes().all(|b| b.is_ascii_alphabetic()) => {
                self.countries.insert(k.to_ascii_uppercase(), price);
            }
            k => return Err(format!("price {spec:?}: {k:?} is not a two-letter country code or 'default'")),
        }
        Ok(())
    }

    /// Twilio's `price` for a message: negative, five decimals, per segment.
    pub fn price(&self, to: &str, segments: u32) -> String {
        // Numbers libphonenumber cannot place (+1555…, test numbers) are priced by calling
        // code where it names one country group: +1 as US.
        let number = to.rsplit(':').next().unwrap_or(to);
        let country = address::country_of(number).or_else(|| number.starts_with("+1").then(|| "US".to_string()));
        let unit = country.and_then(|c| self.countries.get(&c).copied()).unwrap_or(self.default);
        format!("-{:.5}", unit * f64::from(segments.max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_is_negative_per_segment_by_country() {
        let mut t = PriceTable::default();
        assert_eq!(t.price("+14155552671", 1), "-0.00790");
        assert_eq!(t.price("+14155552671", 3), "-0.02370");
        assert_eq!(t.price("+442079460958", 1), "-0.04630");
        assert_eq!(t.price("+81312345678", 1), "-0.05000");
        assert_eq!(t.price("+15558675310", 1), "-0.00790");
        t.set("JP=0.07").unwrap();
        assert_eq!(t.price("+81312345678", 2), "-0.14000");
        assert!(t.set("Japan=1").is_err());
    }
}
