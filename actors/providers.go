package actors

import (
	"fmt"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/consul"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/k8s"
	consulapi "github.com/hashicorp/consul/api"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// otherProvider builds a membership provider other than automanaged, from
// protoactor-go's: k8s (the pods of the deployment, found through the
// Kubernetes API from inside the cluster), consul (a Consul agent), etcd.
func otherProvider(opts ClusterOptions) (cluster.ClusterProvider, error) {
	switch opts.Provider {
	case "k8s":
		p, err := k8s.New()
		if err != nil {
			return nil, fmt.Errorf("actors: cluster provider k8s (it runs inside Kubernetes only): %w", err)
		}
		return p, nil
	case "consul":
		cfg := consulapi.DefaultConfig()
		if opts.ConsulAddr != "" {
			cfg.Address = opts.ConsulAddr
		}
		p, err := consul.NewWithConfig(cfg, consul.WithRefreshTTL(opts.MembershipRefresh))
		if err != nil {
			return nil, fmt.Errorf("actors: cluster provider consul: %w", err)
		}
		return p, nil
	case "etcd":
		p, err := etcd.NewWithConfig("/protoactor", clientv3.Config{Endpoints: opts.EtcdEndpoints})
		if err != nil {
			return nil, fmt.Errorf("actors: cluster provider etcd: %w", err)
		}
		return p, nil
	}
	return nil, fmt.Errorf("actors: unknown cluster provider %q", opts.Provider)
}
