//go:build !unix

package testutil

// cluster is not started where there is no unix process model.
type cluster struct{ url, dir string }

func startCluster(string) (*cluster, error) {
	return nil, &unusableError{"no private PostgreSQL on this system"}
}

func (c *cluster) stop() {}
