//! Domain vocabulary shared by the server and the display.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A text that is none of a vocabulary's keys (or Chinese names).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownKey {
    /// The vocabulary, e.g. `PatrolRole`.
    pub kind: &'static str,
    /// What was given (at most 64 characters of it).
    pub value: String,
}

macro_rules! keyed_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $key:literal, $zh:literal, $en:literal;)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in wire order.
            pub const ALL: [Self; [$($key),+].len()] = [$(Self::$variant),+];

            /// The stable machine key (JSON, CSV, CLI).
            pub const fn key(self) -> &'static str {
                match self { $(Self::$variant => $key),+ }
            }

            /// Chinese display name.
            pub const fn name_zh(self) -> &'static str {
                match self { $(Self::$variant => $zh),+ }
            }

            /// English display name.
            pub const fn name_en(self) -> &'static str {
                match self { $(Self::$variant => $en),+ }
            }

            /// Index in [`Self::ALL`] (the binary form).
            pub fn index(self) -> u8 {
                Self::ALL.iter().position(|&v| v == self).unwrap_or(0) as u8
            }

            pub fn from_index(i: u8) -> Option<Self> {
                Self::ALL.get(usize::from(i)).copied()
            }
        }

        impl FromStr for $name {
            type Err = UnknownKey;
            fn from_str(s: &str) -> Result<Self, UnknownKey> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.key() == s || v.name_zh() == s)
                    .ok_or_else(|| UnknownKey { kind: stringify!($name), value: s.chars().take(64).collect() })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.key())
            }
        }
    };
}

keyed_enum! {
    /// Kinds of city component (城市部件).
    ComponentCategory {
        Manhole = "manhole", "井盖", "Manhole cover";
        StreetLight = "street_light", "路灯", "Street light";
        FireHydrant = "fire_hydrant", "消防栓", "Fire hydrant";
        TrashBin = "trash_bin", "垃圾箱", "Trash bin";
        RecyclingBin = "recycling_bin", "分类回收箱", "Recycling bin";
        BusStop = "bus_stop", "公交站亭", "Bus stop";
        TrafficSignal = "traffic_signal", "交通信号灯", "Traffic signal";
        Camera = "camera", "监控探头", "Surveillance camera";
        ElectricalBox = "electrical_box", "电力设施箱", "Electrical box";
        Bench = "bench", "街头座椅", "Bench";
        PublicToilet = "public_toilet", "公共厕所", "Public toilet";
    }
}

keyed_enum! {
    /// Condition of a component (GB/T 30428 部件状态).
    ComponentState {
        Intact = "intact", "完好", "Intact";
        Damaged = "damaged", "破损", "Damaged";
        Missing = "missing", "丢失", "Missing";
        Occupied = "occupied", "占用", "Occupied";
    }
}

keyed_enum! {
    /// The three administrative grid levels, and the city centre above them (escalation target).
    GridLevel {
        Cell = "cell", "网格", "Grid cell";
        Community = "community", "社区", "Community";
        Street = "street", "街道", "Street";
        City = "city", "市指挥中心", "City center";
    }
}

keyed_enum! {
    /// The periods KPIs are counted over, in the operators' time zone: an incident counts in the
    /// period of the day it was accepted (受理); "closed today" by the day it closed.
    KpiPeriod {
        All = "all", "累计", "Since the start";
        Year = "year", "本年", "This year";
        Quarter = "quarter", "本季度", "This quarter";
        Month = "month", "本月", "This month";
        Day = "day", "今日", "Today";
    }
}

keyed_enum! {
    /// The periods 研判 compares (周 starts on Monday), in the operators' time zone.
    AnalysisPeriod {
        Day = "day", "日", "Day";
        Week = "week", "周", "Week";
        Month = "month", "月", "Month";
        Quarter = "quarter", "季度", "Quarter";
        Year = "year", "年", "Year";
    }
}

keyed_enum! {
    /// How far a warning's observation lies outside what is normal (预警等级).
    WarningLevel {
        Yellow = "yellow", "黄色", "Yellow";
        Orange = "orange", "橙色", "Orange";
        Red = "red", "红色", "Red";
    }
}

keyed_enum! {
    /// What a warning (预警) watches.
    WarningKind {
        Volume = "volume", "数量异常", "Unusual volume";
        OnTime = "on_time", "按期结案率下滑", "On-time rate sliding";
        Repeat = "repeat", "重复投诉", "Repeated reports";
    }
}

keyed_enum! {
    /// Emerging hot spot categories of a cell's daily counts (Getis-Ord Gi* per day, then a
    /// Mann-Kendall trend; the categories of `ArcGIS`'s Emerging Hot Spot Analysis).
    HotspotClass {
        None = "none", "无显著模式", "No pattern";
        NewHot = "new_hot", "新增热点", "New hot spot";
        ConsecutiveHot = "consecutive_hot", "连续热点", "Consecutive hot spot";
        IntensifyingHot = "intensifying_hot", "加剧热点", "Intensifying hot spot";
        PersistentHot = "persistent_hot", "持续热点", "Persistent hot spot";
        DiminishingHot = "diminishing_hot", "减弱热点", "Diminishing hot spot";
        SporadicHot = "sporadic_hot", "零星热点", "Sporadic hot spot";
        OscillatingHot = "oscillating_hot", "振荡热点", "Oscillating hot spot";
        HistoricalHot = "historical_hot", "历史热点", "Historical hot spot";
        NewCold = "new_cold", "新增冷点", "New cold spot";
        ConsecutiveCold = "consecutive_cold", "连续冷点", "Consecutive cold spot";
        IntensifyingCold = "intensifying_cold", "加剧冷点", "Intensifying cold spot";
        PersistentCold = "persistent_cold", "持续冷点", "Persistent cold spot";
        DiminishingCold = "diminishing_cold", "减弱冷点", "Diminishing cold spot";
        SporadicCold = "sporadic_cold", "零星冷点", "Sporadic cold spot";
        OscillatingCold = "oscillating_cold", "振荡冷点", "Oscillating cold spot";
        HistoricalCold = "historical_cold", "历史冷点", "Historical cold spot";
    }
}

keyed_enum! {
    /// Closed-loop incident workflow stage.
    IncidentStage {
        Accepted = "accepted", "受理", "Accepted";
        Dispatched = "dispatched", "分派", "Dispatched";
        Resolved = "resolved", "办结", "Resolved";
        Reviewed = "reviewed", "审核", "Reviewed";
        Closed = "closed", "回访结案", "Closed";
    }
}

keyed_enum! {
    /// Where an incident came from.
    IncidentSource {
        Hotline = "hotline_12345", "12345热线", "12345 hotline";
        Mailbox = "mayor_mailbox", "市长信箱", "Mayor's mailbox";
        MiniProgram = "mini_program", "随手拍", "Resident mini-program";
        PatrolFinding = "patrol_finding", "巡查发现", "Patrol finding";
        Sensor = "sensor_alarm", "视频/物联网告警", "Camera/IoT alarm";
        Open311 = "open311", "Open311接口", "Open311";
    }
}

keyed_enum! {
    /// Incident categories (事件类别).
    IncidentCategory {
        Garbage = "garbage", "垃圾堆放", "Garbage";
        IllegalParking = "illegal_parking", "违章停车", "Illegal parking";
        PipeBlockage = "pipe_blockage", "管道堵塞", "Pipe blockage";
        RoadDamage = "road_damage", "道路破损", "Road damage";
        ManholeDamage = "manhole_damage", "井盖破损丢失", "Manhole damaged/missing";
        StreetLightOut = "street_light_out", "路灯不亮", "Street light out";
        Dispute = "dispute", "矛盾纠纷", "Neighbour dispute";
        SafetyHazard = "safety_hazard", "安全隐患", "Safety hazard";
        Noise = "noise", "噪音扰民", "Noise";
        IllegalVending = "illegal_vending", "占道经营", "Illegal street vending";
    }
}

keyed_enum! {
    /// Who a patrol is.
    PatrolRole {
        GridWorker = "grid_worker", "网格员", "Grid worker";
        Police = "police", "巡逻警", "Patrol police";
        Volunteer = "volunteer", "志愿者", "Volunteer";
    }
}

keyed_enum! {
    /// What a patrol is doing.
    PatrolStatus {
        Patrolling = "patrolling", "巡查中", "Patrolling";
        Responding = "responding", "处置中", "Responding";
        Off = "off", "离岗", "Off duty";
    }
}

keyed_enum! {
    /// Layers a display subscribes to.
    Layer {
        Components = "components", "城市部件", "Components";
        Incidents = "incidents", "事件", "Incidents";
        Patrols = "patrols", "巡查力量", "Patrols";
        Grids = "grids", "网格", "Grids";
    }
}

/// A set of [`Layer`]s, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LayerSet(pub u8);

impl LayerSet {
    pub const ALL: Self = Self(0b1111);

    pub fn contains(self, layer: Layer) -> bool {
        self.0 & (1 << layer.index()) != 0
    }

    #[must_use]
    pub fn with(self, layer: Layer) -> Self {
        Self(self.0 | (1 << layer.index()))
    }

    pub fn iter(self) -> impl Iterator<Item = Layer> {
        Layer::ALL.into_iter().filter(move |&l| self.contains(l))
    }
}

impl FromIterator<Layer> for LayerSet {
    fn from_iter<I: IntoIterator<Item = Layer>>(iter: I) -> Self {
        iter.into_iter().fold(Self::default(), Self::with)
    }
}

impl Serialize for LayerSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for LayerSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<Layer>::deserialize(d)?.into_iter().collect())
    }
}

/// An axis-aligned box: `[west, south, east, north]` (degrees in WGS84, or local metres).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bbox(pub [f64; 4]);

impl Bbox {
    pub fn contains(&self, x: f64, y: f64) -> bool {
        x >= self.0[0] && x <= self.0[2] && y >= self.0[1] && y <= self.0[3]
    }

    /// A box is valid when its numbers are finite and west ≤ east, south ≤ north.
    pub fn is_valid(&self) -> bool {
        self.0.iter().all(|v| v.is_finite()) && self.0[0] <= self.0[2] && self.0[1] <= self.0[3]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_chinese_names_parse() {
        for c in ComponentCategory::ALL {
            assert_eq!(c.key().parse::<ComponentCategory>().unwrap(), c);
            assert_eq!(ComponentCategory::from_index(c.index()), Some(c));
        }
        assert_eq!("受理".parse::<IncidentStage>().unwrap(), IncidentStage::Accepted);
        assert!("nope".parse::<PatrolRole>().is_err());
    }

    #[test]
    fn layer_sets() {
        let s: LayerSet = [Layer::Patrols, Layer::Incidents].into_iter().collect();
        assert!(s.contains(Layer::Patrols) && !s.contains(Layer::Components));
        assert_eq!(serde_json::to_string(&s).unwrap(), r#"["incidents","patrols"]"#);
        assert_eq!(serde_json::from_str::<LayerSet>(r#"["patrols","incidents"]"#).unwrap(), s);
    }
}
