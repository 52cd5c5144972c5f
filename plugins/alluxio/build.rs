fn main() {
    if let Err(e) = fluid_plugin_chart::pack_into_out_dir("../../charts/alluxio", "chart.tgz") {
        panic!("packing charts/alluxio: {e}");
    }
}
