struct Shop;

impl Shop {
    /// Counts the orders.
    #[dspex::tool]
    fn count(&self) -> u32 {
        0
    }
}

fn main() {}
