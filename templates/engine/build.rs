fn main() {
    // The chart travels inside the library (`chart:` in `export_engine!`).
    fluid_plugin_chart::pack_into_out_dir("chart", "chart.tgz").expect("packing the chart");
}
