//! Eased camera flights: a [`FlyTo`] message starts one from the current view (the heading and
//! tilt kept, the distance brought down to the asked maximum), then the camera follows the
//! [`Flight`] until it lands. A `FlyTo` where the camera already looks, or already flies (a
//! tour's keyframe at the incident it selects), changes nothing.

use bevy::prelude::*;

use crate::map::{Flight, FlyTo, OrbitCamera};

pub(super) fn start_flights(
    mut commands: Commands,
    mut fly: MessageReader<FlyTo>,
    cameras: Query<(Entity, &OrbitCamera, Option<&Flight>)>,
    time: Res<Time>,
) {
    let Some(to) = fly.read().last() else { return };
    for (cam, orbit, flying) in &cameras {
        let heading = flying.map_or(orbit.focus, |f| f.to.focus);
        if heading.distance(to.focus) < 1.0 {
            continue;
        }
        let target = OrbitCamera { focus: to.focus, distance: orbit.distance.min(to.max_distance), ..*orbit };
        commands.entity(cam).insert(Flight {
            from: *orbit,
            to: target,
            start: time.elapsed_secs(),
            duration: Flight::SECONDS,
        });
    }
}

pub(super) fn fly_camera(
    mut commands: Commands,
    time: Res<Time>,
    mut cameras: Query<(Entity, &Flight, &mut OrbitCamera)>,
) {
    let now = time.elapsed_secs();
    for (cam, flight, mut orbit) in &mut cameras {
        *orbit = flight.at(now);
        if flight.done(now) {
            commands.entity(cam).remove::<Flight>();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fly_to_starts_an_eased_flight_that_lands() {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins).add_message::<FlyTo>().add_systems(Update, (start_flights, fly_camera).chain());
        app.insert_resource(bevy::time::TimeUpdateStrategy::ManualDuration(std::time::Duration::from_millis(100)));
        let start = OrbitCamera { focus: Vec3::ZERO, yaw: 0.3, pitch: 0.8, distance: 2000.0 };
        let cam = app.world_mut().spawn(start).id();
        app.update();
        app.world_mut().write_message(FlyTo { focus: Vec3::new(300.0, 0.0, -400.0), max_distance: 450.0 });
        app.update();
        let flight = *app.world().get::<Flight>(cam).expect("the camera flies");
        assert_eq!(flight.to, OrbitCamera { focus: Vec3::new(300.0, 0.0, -400.0), distance: 450.0, ..start });
        for _ in 0..20 {
            app.update();
        }
        assert!(app.world().get::<Flight>(cam).is_none(), "landed");
        assert_eq!(*app.world().get::<OrbitCamera>(cam).unwrap(), flight.to);
        // Flying to where the camera already looks changes nothing.
        app.world_mut().write_message(FlyTo { focus: Vec3::new(300.0, 0.0, -400.0), max_distance: 100.0 });
        app.update();
        assert!(app.world().get::<Flight>(cam).is_none());
        assert_eq!(*app.world().get::<OrbitCamera>(cam).unwrap(), flight.to);
    }
}
