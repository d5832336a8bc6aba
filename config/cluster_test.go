package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const pgURL = "postgres://u:hunter2@db:5432/switchboard"

// automanaged is a valid node of a three-node automanaged cluster.
func automanaged(extra map[string]string) map[string]string {
	m := map[string]string{
		"DATABASE_URL":            pgURL,
		"CLUSTER_PROVIDER":        "automanaged",
		"CLUSTER_ADDR":            "node1:6330",
		"CLUSTER_MEMBERSHIP_ADDR": "node1:6331",
		"CLUSTER_PEERS":           "node1:6331, node2:6331,node3:6331",
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestClusterDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.ClusterProvider != "" || c.ClusterName != "switchboard" || c.ClusterAddr != "" || c.ClusterMembershipAddr != "" ||
		c.ClusterPeers != nil || c.ClusterLeaseTTL != 3*time.Second {
		t.Fatalf("cluster defaults: %+v", c)
	}
}

func TestClusterValid(t *testing.T) {
	c, err := Load(env(automanaged(map[string]string{"CLUSTER_NAME": "sms-eu-1", "CLUSTER_LEASE_TTL": "1500ms"})))
	if err != nil {
		t.Fatal(err)
	}
	if c.ClusterProvider != "automanaged" || c.ClusterName != "sms-eu-1" || c.ClusterAddr != "node1:6330" ||
		c.ClusterMembershipAddr != "node1:6331" || !slices.Equal(c.ClusterPeers, []string{"node1:6331", "node2:6331", "node3:6331"}) ||
		c.ClusterLeaseTTL != 1500*time.Millisecond {
		t.Fatalf("parsed: %+v", c)
	}

	// k8s: no peers; the address is the pod's IP. Upper case is accepted
	// like LOG_LEVEL's.
	c, err = Load(env(map[string]string{"DATABASE_URL": pgURL, "CLUSTER_PROVIDER": "K8s", "CLUSTER_ADDR": "10.1.2.3:6330"}))
	if err != nil || c.ClusterProvider != "k8s" || c.ClusterAddr != "10.1.2.3:6330" {
		t.Fatalf("k8s: %+v %v", c, err)
	}

	c, err = Load(env(map[string]string{"DATABASE_URL": pgURL, "CLUSTER_PROVIDER": "consul", "CLUSTER_ADDR": "10.0.0.1:6330", "CLUSTER_CONSUL_ADDR": "https://consul.service:8501"}))
	if err != nil || c.ClusterConsulAddr != "https://consul.service:8501" {
		t.Fatalf("consul: %+v %v", c, err)
	}
	c, err = Load(env(map[string]string{"DATABASE_URL": pgURL, "CLUSTER_PROVIDER": "etcd", "CLUSTER_ADDR": "10.0.0.1:6330", "CLUSTER_ETCD_ENDPOINTS": "etcd-0:2379, http://etcd-1:2379"}))
	if err != nil || !slices.Equal(c.ClusterEtcdEndpoints, []string{"etcd-0:2379", "http://etcd-1:2379"}) {
		t.Fatalf("etcd: %+v %v", c, err)
	}

	// Two spellings of one address are one: the membership address is
	// found in the peers although written differently.
	c, err = Load(env(automanaged(map[string]string{
		"CLUSTER_ADDR":            "[::1]:6330",
		"CLUSTER_MEMBERSHIP_ADDR": "[0:0::1]:6331",
		"CLUSTER_PEERS":           "[::1]:6331,[::1]:7331,Node3:6331",
	})))
	if err != nil || c.ClusterMembershipAddr != "[::1]:6331" || !slices.Equal(c.ClusterPeers, []string{"[::1]:6331", "[::1]:7331", "node3:6331"}) {
		t.Fatalf("normalised: %+v %v", c, err)
	}
}

// Every bad cluster setting stops start-up with an error naming the
// variable (and never printing DATABASE_URL, which is secret).
func TestClusterInvalid(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"unknown provider", map[string]string{"CLUSTER_PROVIDER": "zookeeper"}, `CLUSTER_PROVIDER must be one of automanaged, k8s, consul, etcd, got "zookeeper"`},
		{"name with capitals", map[string]string{"CLUSTER_NAME": "Switchboard"}, `CLUSTER_NAME must be 1 to 63 lower-case letters, digits and '-'`},
		{"name ends with -", map[string]string{"CLUSTER_NAME": "sb-"}, `CLUSTER_NAME must be 1 to 63`},
		{"name empty", map[string]string{"CLUSTER_NAME": ""}, `CLUSTER_NAME must be 1 to 63`},
		{"name too long", map[string]string{"CLUSTER_NAME": strings.Repeat("a", 64)}, `CLUSTER_NAME must be 1 to 63`},
		{"addr without port", automanaged(map[string]string{"CLUSTER_ADDR": "node1"}), `CLUSTER_ADDR must be host:port, got "node1"`},
		{"addr port 0", automanaged(map[string]string{"CLUSTER_ADDR": "node1:0"}), `CLUSTER_ADDR must be host:port with a port between 1 and 65535, got "node1:0"`},
		{"addr port too big", automanaged(map[string]string{"CLUSTER_ADDR": "node1:65536"}), `CLUSTER_ADDR must be host:port with a port between 1 and 65535`},
		{"addr port named", automanaged(map[string]string{"CLUSTER_ADDR": "node1:http"}), `CLUSTER_ADDR must be host:port with a port between 1 and 65535`},
		{"addr without host", automanaged(map[string]string{"CLUSTER_ADDR": ":6330"}), `CLUSTER_ADDR must name a host the other nodes reach`},
		{"addr unspecified", automanaged(map[string]string{"CLUSTER_ADDR": "0.0.0.0:6330"}), `CLUSTER_ADDR must name a host the other nodes reach, not 0.0.0.0`},
		{"addr unspecified v6", automanaged(map[string]string{"CLUSTER_ADDR": "[::]:6330"}), `CLUSTER_ADDR must name a host the other nodes reach, not ::`},
		{"membership addr", automanaged(map[string]string{"CLUSTER_MEMBERSHIP_ADDR": "node1:x"}), `CLUSTER_MEMBERSHIP_ADDR must be host:port with a port between 1 and 65535`},
		{"peer bad", automanaged(map[string]string{"CLUSTER_PEERS": "node1:6331,node2"}), `CLUSTER_PEERS entry "node2": must be host:port, got "node2"`},
		{"peer empty entry", automanaged(map[string]string{"CLUSTER_PEERS": "node1:6331,,node2:6331"}), `CLUSTER_PEERS must be host:port addresses separated by commas, got an empty entry`},
		{"peer twice", automanaged(map[string]string{"CLUSTER_PEERS": "node1:6331,NODE1:6331"}), `CLUSTER_PEERS lists node1:6331 twice`},
		{"lease not a duration", map[string]string{"CLUSTER_LEASE_TTL": "3"}, `CLUSTER_LEASE_TTL must be a duration between 1s and 1m0s, such as 3s or 1500ms, got "3"`},
		{"lease too short", map[string]string{"CLUSTER_LEASE_TTL": "999ms"}, `CLUSTER_LEASE_TTL must be a duration between 1s and 1m0s`},
		{"lease too long", map[string]string{"CLUSTER_LEASE_TTL": "61s"}, `CLUSTER_LEASE_TTL must be a duration between 1s and 1m0s`},

		{"cluster on SQLite", automanaged(map[string]string{"DATABASE_URL": "sqlite:/tmp/hunter2.db"}), `CLUSTER_PROVIDER=automanaged needs PostgreSQL, which all the nodes share: set DATABASE_URL=postgres://`},
		{"cluster on the default database", map[string]string{"CLUSTER_PROVIDER": "k8s", "CLUSTER_ADDR": "10.0.0.1:6330"}, `CLUSTER_PROVIDER=k8s needs PostgreSQL`},
		{"no addr", map[string]string{"DATABASE_URL": pgURL, "CLUSTER_PROVIDER": "k8s"}, `CLUSTER_ADDR is required with CLUSTER_PROVIDER=k8s`},
		{"automanaged without membership addr", automanaged(map[string]string{"CLUSTER_MEMBERSHIP_ADDR": ""}), `CLUSTER_MEMBERSHIP_ADDR is required with CLUSTER_PROVIDER=automanaged`},
		{"automanaged without peers", automanaged(map[string]string{"CLUSTER_PEERS": ""}), `CLUSTER_PEERS is required with CLUSTER_PROVIDER=automanaged`},
		{"peers lack this node", automanaged(map[string]string{"CLUSTER_PEERS": "node2:6331,node3:6331"}), `CLUSTER_PEERS (node2:6331,node3:6331) must include this node's CLUSTER_MEMBERSHIP_ADDR node1:6331`},
		{"one port for two listeners", automanaged(map[string]string{"CLUSTER_ADDR": "node1:6331"}), `CLUSTER_MEMBERSHIP_ADDR (node1:6331) and CLUSTER_ADDR (node1:6331) have the same port`},
		{"one port on two hosts", automanaged(map[string]string{"CLUSTER_ADDR": "10.0.0.1:6331"}), `CLUSTER_MEMBERSHIP_ADDR (node1:6331) and CLUSTER_ADDR (10.0.0.1:6331) have the same port`},
		{"peers with k8s", map[string]string{"DATABASE_URL": pgURL, "CLUSTER_PROVIDER": "k8s", "CLUSTER_ADDR": "10.0.0.1:6330", "CLUSTER_PEERS": "a:1"}, `CLUSTER_PEERS is only read with CLUSTER_PROVIDER=automanaged (it is k8s)`},
		{"consul addr", map[string]string{"DATABASE_URL": pgURL, "CLUSTER_PROVIDER": "consul", "CLUSTER_ADDR": "10.0.0.1:6330", "CLUSTER_CONSUL_ADDR": "consul"}, `CLUSTER_CONSUL_ADDR must be host:port or http(s)://host:port with a port between 1 and 65535, got "consul"`},
		{"consul addr scheme", map[string]string{"CLUSTER_CONSUL_ADDR": "unix:///run/consul.sock"}, `CLUSTER_CONSUL_ADDR must be host:port or http(s)://host:port, got "unix:///run/consul.sock"`},
		{"consul addr with etcd", map[string]string{"DATABASE_URL": pgURL, "CLUSTER_PROVIDER": "etcd", "CLUSTER_ADDR": "10.0.0.1:6330", "CLUSTER_ETCD_ENDPOINTS": "etcd:2379", "CLUSTER_CONSUL_ADDR": "consul:8500"}, `CLUSTER_CONSUL_ADDR is only read with CLUSTER_PROVIDER=consul (it is etcd)`},
		{"etcd without endpoints", map[string]string{"DATABASE_URL": pgURL, "CLUSTER_PROVIDER": "etcd", "CLUSTER_ADDR": "10.0.0.1:6330"}, `CLUSTER_ETCD_ENDPOINTS is required with CLUSTER_PROVIDER=etcd`},
		{"etcd endpoint bad", map[string]string{"CLUSTER_ETCD_ENDPOINTS": "etcd1:2379,etcd2"}, `CLUSTER_ETCD_ENDPOINTS entry "etcd2": must be host:port or http(s)://host:port`},
		{"etcd endpoints with automanaged", automanaged(map[string]string{"CLUSTER_ETCD_ENDPOINTS": "etcd:2379"}), `CLUSTER_ETCD_ENDPOINTS is only read with CLUSTER_PROVIDER=etcd (it is automanaged)`},
		{"addr without provider", map[string]string{"CLUSTER_ADDR": "node1:6330"}, `CLUSTER_ADDR is set but CLUSTER_PROVIDER is empty (a single node)`},
		{"peers without provider", map[string]string{"CLUSTER_PEERS": "node1:6331"}, `CLUSTER_PEERS is set but CLUSTER_PROVIDER is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v (config %+v), want %q", err, c, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("DATABASE_URL leaked: %v", err)
			}
		})
	}
}

// All the cluster's problems are reported at once, like the other
// settings'.
func TestClusterErrorsTogether(t *testing.T) {
	_, err := Load(env(map[string]string{"CLUSTER_PROVIDER": "automanaged"}))
	if err == nil {
		t.Fatal("automanaged with nothing else set: no error")
	}
	for _, want := range []string{"DATABASE_URL=postgres://", "CLUSTER_ADDR is required", "CLUSTER_MEMBERSHIP_ADDR is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q missing from %v", want, err)
		}
	}
}
