fn main() {
    if let Err(e) = fluid_plugin_chart::pack_into_out_dir("../../charts/jindo", "chart.tgz") {
        panic!("packing charts/jindo: {e}");
    }
}
