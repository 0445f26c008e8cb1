//! The ecosystems this build knows. Adding one means adding it to [`Plugins::standard`].

use updatebot_container::ContainerPlugin;
use updatebot_core::{Ecosystem, Manager, Plugin, VersionScheme};
use updatebot_npm::NpmPlugin;
use updatebot_python::PythonPlugin;

pub struct Plugins {
    list: Vec<Box<dyn Plugin>>,
}

impl Plugins {
    pub fn standard() -> Self {
        Plugins {
            list: vec![
                Box::new(PythonPlugin::default()),
                Box::new(NpmPlugin::default()),
                Box::new(ContainerPlugin::default()),
            ],
        }
    }

    pub fn all(&self) -> impl Iterator<Item = &dyn Plugin> {
        self.list.iter().map(|p| p.as_ref())
    }

    pub fn get(&self, ecosystem: Ecosystem) -> Option<&dyn Plugin> {
        self.list
            .iter()
            .find(|p| p.ecosystem() == ecosystem)
            .map(|p| p.as_ref())
    }

    /// Every manager with its plugin, in a stable order.
    pub fn managers(&self) -> impl Iterator<Item = (&dyn Plugin, &dyn Manager)> {
        self.list
            .iter()
            .flat_map(|p| p.managers().iter().map(move |m| (p.as_ref(), m.as_ref())))
    }

    pub fn manager(&self, name: &str) -> Option<(&dyn Plugin, &dyn Manager)> {
        self.managers().find(|(_, m)| m.name() == name)
    }

    /// The versioning scheme `name` of any ecosystem.
    pub fn scheme(&self, name: &str) -> Option<&dyn VersionScheme> {
        self.list.iter().find_map(|p| p.scheme(name))
    }
}
