//! Write requests as typed values: a whole product ([`NewProduct`], POST and
//! PUT) or a change to some of its fields ([`ProductPatch`], PATCH). The HTTP
//! edge reads its wire format into these with the value rules of
//! [`crate::product`] and the text rules below; this module holds what the
//! domain decides about writes: the defaults of optional fields and how a
//! patch applies to a stored product.

use crate::error::ValidationErrors;
use crate::product::{Label, NewProduct, Product, Rating, check_text};

/// `description` when a whole body leaves it out, or a patch resets it.
pub const DEFAULT_DESCRIPTION: &str = "";
/// `stock_quantity` when a whole body leaves it out.
pub const DEFAULT_STOCK_QUANTITY: i64 = 0;
/// `rating` when a whole body leaves it out.
pub const DEFAULT_RATING: Rating = Rating::ZERO;
/// `is_active` when a whole body leaves it out: a new product is on sale.
pub const DEFAULT_IS_ACTIVE: bool = true;

/// A name as stored: trimmed, 1–200 characters, no control characters but
/// `\n` and `\t`. Offences are pushed onto `errors` under `field`.
pub fn check_name(errors: &mut ValidationErrors, field: &str, raw: &str) -> String {
    check_text(errors, field, raw, 1, 200)
}

/// A description as stored: trimmed, at most 5000 characters, no control
/// characters but `\n` and `\t`. Offences are pushed under `field`.
pub fn check_description(errors: &mut ValidationErrors, field: &str, raw: &str) -> String {
    check_text(errors, field, raw, 0, 5000)
}

/// A stock quantity: 0 or more.
pub fn check_stock_quantity(n: i64) -> Result<i64, String> {
    if n >= 0 {
        Ok(n)
    } else {
        Err("must be 0 or more".into())
    }
}

/// A patch's change to a field that has a default.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Change<T> {
    /// Left as stored.
    #[default]
    Keep,
    /// Set to this (already checked) value.
    Set(T),
    /// Back to the field's default (what JSON Merge Patch's `null` asks).
    Reset,
}

/// A change to some writable fields of a stored product (PATCH), each value
/// already checked by its rule. `None` (or [`Change::Keep`]) leaves a field
/// as stored; only `description` can be reset to its default, since every
/// other field is required of a stored product.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductPatch {
    pub sku: Option<crate::product::Sku>,
    pub name: Option<String>,
    pub description: Change<String>,
    pub category: Option<Label>,
    pub brand: Option<Label>,
    pub price: Option<crate::product::Price>,
    pub stock_quantity: Option<i64>,
    pub rating: Option<Rating>,
    pub is_active: Option<bool>,
}

impl ProductPatch {
    /// `current` with this patch applied: the product to write back.
    ///
    /// The fields the patch leaves are written back too, so they must meet
    /// today's rules like the rest: a name or label stored before a rule
    /// tightened (a label with a `\n`, say) is refused, naming the field,
    /// until the patch replaces it.
    pub fn apply(&self, current: &Product) -> Result<NewProduct, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = match &self.name {
            Some(n) => n.clone(),
            None => check_name(&mut errors, "name", &current.name),
        };
        let description = match &self.description {
            Change::Set(d) => d.clone(),
            Change::Reset => DEFAULT_DESCRIPTION.to_owned(),
            Change::Keep => check_description(&mut errors, "description", &current.description),
        };
        let mut label = |field: &str, patched: &Option<Label>, stored: &Label| match patched {
            Some(l) => Some(l.clone()),
            None => Label::parse(stored.as_str())
                .map_err(|m| errors.push(field, m))
                .ok(),
        };
        let category = label("category", &self.category, &current.category);
        let brand = label("brand", &self.brand, &current.brand);
        match (category, brand) {
            (Some(category), Some(brand)) if errors.is_empty() => Ok(NewProduct {
                sku: self.sku.clone().unwrap_or_else(|| current.sku.clone()),
                name,
                description,
                category,
                brand,
                price: self.price.unwrap_or(current.price),
                stock_quantity: self.stock_quantity.unwrap_or(current.stock_quantity),
                rating: self.rating.unwrap_or(current.rating),
                is_active: self.is_active.unwrap_or(current.is_active),
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::product::{Price, ProductId, Sku};

    fn stored() -> Product {
        Product {
            id: ProductId::new(1).unwrap(),
            sku: Sku::parse("AB-1").unwrap(),
            name: "Lamp".into(),
            description: "A lamp".into(),
            category: Label::parse("Home").unwrap(),
            brand: Label::parse("Acme").unwrap(),
            price: Price::from_cents(1999).unwrap(),
            stock_quantity: 3,
            rating: Rating::from_tenths(45).unwrap(),
            is_active: true,
            created_at: crate::product::now(),
            updated_at: crate::product::now(),
            version: 1,
        }
    }

    #[test]
    fn an_empty_patch_writes_the_product_back() {
        let p = stored();
        let new = ProductPatch::default().apply(&p).unwrap();
        assert_eq!(new.sku, p.sku);
        assert_eq!(new.name, p.name);
        assert_eq!(new.description, p.description);
        assert_eq!(new.category, p.category);
        assert_eq!(new.price, p.price);
        assert_eq!(new.stock_quantity, 3);
        assert_eq!(new.rating, p.rating);
        assert!(new.is_active);
    }

    #[test]
    fn set_fields_replace_and_reset_takes_the_default() {
        let patch = ProductPatch {
            price: Some(Price::from_cents(5).unwrap()),
            description: Change::Reset,
            brand: Some(Label::parse("Zenith").unwrap()),
            ..ProductPatch::default()
        };
        let new = patch.apply(&stored()).unwrap();
        assert_eq!(new.price.cents(), 5);
        assert_eq!(new.description, DEFAULT_DESCRIPTION);
        assert_eq!(new.brand, "Zenith");
        assert_eq!(new.category, "Home");
    }

    #[test]
    fn stored_labels_must_meet_the_rule_unless_replaced() {
        let mut p = stored();
        p.category = Label::from_stored("Home\nGarden".into());
        let e = ProductPatch::default().apply(&p).unwrap_err();
        assert_eq!(e.errors()[0].field, "category");
        assert_eq!(e.errors()[0].message, "must not contain control characters");
        let fixed = ProductPatch {
            category: Some(Label::parse("Garden").unwrap()),
            ..ProductPatch::default()
        };
        assert_eq!(fixed.apply(&p).unwrap().category, "Garden");
    }

    #[test]
    fn stock_quantity_is_never_negative() {
        assert_eq!(check_stock_quantity(0), Ok(0));
        assert!(check_stock_quantity(-1).is_err());
    }
}
