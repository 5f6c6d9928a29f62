//! A column of numbers, one per product, held in the narrower of two
//! widths while every value fits it.
//!
//! Prices in cents, stock quantities and versions fit 4 bytes in every
//! catalog we have seen, and pair codes fit 2 while a catalog has at most
//! 65,536 (category, brand) pairs; each column is 4 MB (or 2 MB) smaller
//! per million products than at the width its type allows. The first
//! value that does not fit widens the whole column, once, in place of
//! refusing it or truncating it.

/// Product `doc`'s number is at index `doc`.
#[derive(Debug)]
pub enum Packed<N, W> {
    Narrow(Vec<N>),
    Wide(Vec<W>),
}

impl<N, W> Default for Packed<N, W> {
    fn default() -> Self {
        Packed::Narrow(Vec::new())
    }
}

/// Grows `v` to hold index `doc`, with default values.
pub fn grow<T: Clone + Default>(v: &mut Vec<T>, doc: u32) {
    let need = doc as usize + 1;
    if v.len() < need {
        v.resize(need, T::default());
    }
}

impl<N, W> Packed<N, W>
where
    N: Copy + Default + Into<W> + TryFrom<W>,
    W: Copy + Default,
{
    /// The value at `d`, if the column reaches it.
    pub fn get(&self, d: usize) -> Option<W> {
        match self {
            Packed::Narrow(v) => v.get(d).map(|n| (*n).into()),
            Packed::Wide(v) => v.get(d).copied(),
        }
    }

    /// The value at `d`, which the caller knows the column holds (a
    /// product of the index): a panic otherwise, as indexing a `Vec`.
    pub fn at(&self, d: usize) -> W {
        match self {
            Packed::Narrow(v) => v[d].into(),
            Packed::Wide(v) => v[d],
        }
    }

    /// Sets product `doc`'s value, growing the column (and widening it
    /// when `value` does not fit the narrow width).
    pub fn set(&mut self, doc: u32, value: W) {
        if let Packed::Narrow(v) = self
            && N::try_from(value).is_err()
        {
            *self = Packed::Wide(v.iter().map(|n| (*n).into()).collect());
        }
        let d = doc as usize;
        match self {
            Packed::Narrow(v) => {
                grow(v, doc);
                // Fits: checked above, or the column is wide.
                v[d] = N::try_from(value).unwrap_or_default();
            }
            Packed::Wide(v) => {
                grow(v, doc);
                v[d] = value;
            }
        }
    }

    /// Room for `docs` products without a copy.
    pub fn reserve(&mut self, docs: usize) {
        match self {
            Packed::Narrow(v) => v.reserve(docs.saturating_sub(v.len())),
            Packed::Wide(v) => v.reserve(docs.saturating_sub(v.len())),
        }
    }

    pub fn shrink_to_fit(&mut self) {
        match self {
            Packed::Narrow(v) => v.shrink_to_fit(),
            Packed::Wide(v) => v.shrink_to_fit(),
        }
    }

    /// Heap bytes.
    pub fn bytes(&self) -> usize {
        match self {
            Packed::Narrow(v) => v.capacity() * std::mem::size_of::<N>(),
            Packed::Wide(v) => v.capacity() * std::mem::size_of::<W>(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Packed;

    #[test]
    fn pair_codes_widen_past_two_bytes_and_keep_every_code() {
        let mut codes = Packed::<u16, u32>::default();
        codes.set(3, 7);
        codes.set(0, 65_535);
        assert!(matches!(codes, Packed::Narrow(_)));
        assert!(codes.bytes() >= 8, "2 bytes a code");
        codes.set(5, 65_536);
        assert!(matches!(codes, Packed::Wide(_)));
        assert_eq!(
            (0..6).map(|d| codes.get(d)).collect::<Vec<_>>(),
            [
                Some(65_535),
                Some(0),
                Some(0),
                Some(7),
                Some(0),
                Some(65_536)
            ]
        );
        assert_eq!(codes.get(6), None);
    }

    #[test]
    fn numbers_widen_past_four_bytes_either_way() {
        let mut prices = Packed::<i32, i64>::default();
        prices.set(0, -5);
        prices.set(2, i64::from(i32::MAX));
        assert!(matches!(prices, Packed::Narrow(_)));
        prices.set(1, i64::from(i32::MIN) - 1);
        assert!(matches!(prices, Packed::Wide(_)));
        prices.set(3, 1 << 40);
        assert_eq!(
            (0..4).map(|d| prices.at(d)).collect::<Vec<_>>(),
            [-5, i64::from(i32::MIN) - 1, i64::from(i32::MAX), 1 << 40]
        );
    }
}
