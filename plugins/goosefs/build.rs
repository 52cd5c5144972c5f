fn main() {
    // charts/goosefs shares charts/alluxio's templates (a symbolic link): its own are its
    // Chart.yaml and values.yaml.
    println!("cargo:rerun-if-changed=../../charts/alluxio/templates");
    if let Err(e) = fluid_plugin_chart::pack_into_out_dir("../../charts/goosefs", "chart.tgz") {
        panic!("packing charts/goosefs: {e}");
    }
}
