//! Side-by-side runs of sockstack and smoltcp on one workload.
//!
//! This VM's speed drifts by a third within seconds, more than the two
//! engines differ in request/response. Two long runs, one after the other,
//! each meet a different machine; their ratio mostly measures the drift.
//! A pair of short runs back to back meets nearly the same machine, so
//! the ratio *within* a pair is what carries the comparison, and the
//! median over many pairs drops the pairs a drift step fell into. Each
//! engine goes first in every other pair, so neither always gets the
//! warmer (or colder) start.

/// Each engine's figure from every pair, in run order.
#[derive(Debug, Clone, PartialEq)]
pub struct Pairs {
    pub sockstack: Vec<f64>,
    pub smoltcp: Vec<f64>,
}

impl Pairs {
    /// Runs `n` pairs (at least one) of sockstack's (`s`) and smoltcp's
    /// (`m`) version of a workload, alternating which goes first. The
    /// first error ends the runs.
    pub fn run(
        n: usize,
        mut s: impl FnMut() -> Result<f64, String>,
        mut m: impl FnMut() -> Result<f64, String>,
    ) -> Result<Pairs, String> {
        let n = n.max(1);
        let mut pairs = Pairs { sockstack: Vec::with_capacity(n), smoltcp: Vec::with_capacity(n) };
        for i in 0..n {
            let (a, b) = if i % 2 == 0 {
                let a = s()?;
                (a, m()?)
            } else {
                let b = m()?;
                (s()?, b)
            };
            pairs.sockstack.push(a);
            pairs.smoltcp.push(b);
        }
        Ok(pairs)
    }

    /// The median of sockstack's figures.
    pub fn sockstack_median(&self) -> f64 {
        median(self.sockstack.clone())
    }

    /// The median of smoltcp's figures.
    pub fn smoltcp_median(&self) -> f64 {
        median(self.smoltcp.clone())
    }

    /// The median over the pairs of `ratio(sockstack, smoltcp)`: the
    /// comparison, each pair judged on its own machine.
    pub fn ratio_median(&self, ratio: impl Fn(f64, f64) -> f64) -> f64 {
        median(self.sockstack.iter().zip(&self.smoltcp).map(|(&s, &m)| ratio(s, m)).collect())
    }
}

/// The middle value (the upper of the two middle ones for an even count).
///
/// # Panics
/// If `v` is empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::{median, Pairs};
    use std::cell::RefCell;

    #[test]
    fn pairs_alternate_who_goes_first() {
        let order = RefCell::new(String::new());
        let (mut s, mut m) = (vec![5.0, 1.0, 3.0].into_iter(), vec![40.0, 10.0, 20.0].into_iter());
        let got = Pairs::run(
            3,
            || {
                order.borrow_mut().push('s');
                Ok(s.next().unwrap())
            },
            || {
                order.borrow_mut().push('m');
                Ok(m.next().unwrap())
            },
        )
        .unwrap();
        assert_eq!(order.into_inner(), "smmssm");
        assert_eq!(got.sockstack, vec![5.0, 1.0, 3.0]);
        assert_eq!(got.smoltcp, vec![40.0, 10.0, 20.0]);
        assert_eq!((got.sockstack_median(), got.smoltcp_median()), (3.0, 20.0));
    }

    #[test]
    fn the_ratio_is_judged_within_each_pair() {
        // The machine halves its speed between pairs: each engine's median
        // is a figure from a different pair, but within every pair
        // smoltcp takes twice sockstack's time.
        let pairs = Pairs { sockstack: vec![1.0, 2.0, 4.0, 8.0], smoltcp: vec![2.0, 4.0, 8.0, 16.0] };
        assert_eq!(pairs.ratio_median(|s, m| m / s), 2.0);
        // A drift step hit sockstack's run of the second pair: the medians
        // of each engine's figures come out equal, while two of the three
        // pairs show smoltcp 25% slower.
        let stepped = Pairs { sockstack: vec![1.0, 4.0, 2.0], smoltcp: vec![1.25, 2.0, 2.5] };
        assert_eq!(stepped.sockstack_median(), stepped.smoltcp_median());
        assert_eq!(stepped.ratio_median(|s, m| m / s), 1.25);
    }

    #[test]
    fn an_error_ends_the_runs() {
        let mut calls = 0;
        let got = Pairs::run(
            4,
            || {
                calls += 1;
                Err("broken".into())
            },
            || Ok(1.0),
        );
        assert_eq!(got, Err("broken".to_string()));
        assert_eq!(calls, 1);
        assert_eq!(median(vec![3.0, 1.0, 2.0, 4.0]), 3.0);
    }
}
