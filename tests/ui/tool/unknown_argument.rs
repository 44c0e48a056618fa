/// Looks up an order.
#[dspex::tool(name = "lookup")]
fn lookup_order(id: u64) -> u64 {
    id
}

fn main() {
    let _ = lookup_order_tool();
}
