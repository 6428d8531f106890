//! Open vSwitch IPsec the seed's way (issue 15): one OVS instance per lab host, and a driver
//! that does for the seed's three authentication methods what NVIDIA's swanctl-based
//! `ovs-monitor-ipsec` does (Mellanox/OVS, branch `mlnx_ofed_5_6`, `ipsec/ovs-monitor-ipsec.in`;
//! read to learn what it writes and runs, not copied).
//!
//! Contract:
//! - [`switch::Switch`] runs `ovsdb-server` and `ovs-vswitchd` (kernel datapath, the
//!   `openvswitch` module of the lab kernel) inside one host's network namespace, with its own
//!   database, run and log directories, so the two hosts' switches share nothing;
//!   `ovs-vsctl` talks to it through its own socket. Stopped (by pid) on drop.
//! - [`driver::Driver`] reads the IPsec options of the host's OVSDB with `ovs-vsctl`, writes
//!   `conf.d/ovs-swanctl.conf` into the host's swanctl directory in the monitor's shape, and runs
//!   the monitor's command sequence through `swanctl` (ikectl under that name, or the stock
//!   swanctl): `--list-conns`, `-t --child NAME` for each outdated name, a restart of the IKE
//!   daemon through a stand-in for the service manager ([`driver::ServiceManager`]; the lab VM
//!   has no systemd), then `--load-all`, logging `--load-all`'s stderr only when it says
//!   "error", as the monitor does. The driver is told about OVSDB changes by its caller
//!   (the monitor learns of them from the OVSDB IDL).
//! - [`upstream::Monitor`] is upstream Open vSwitch's own `ovs-monitor-ipsec` (Debian's, run
//!   unmodified with `--ike-daemon=strongswan`; issue 20): no driver, the monitor itself writes
//!   ipsec.conf and runs `ipsec` (ikectl under that name).

pub mod driver;
pub mod switch;
pub mod upstream;
