package actors

import (
	"context"
	"time"

	"switchboard/internal/ttlcache"
	"switchboard/providers"
	"switchboard/store"
)

// configCache keeps stages, agents, providers and projects' timezones and
// token caps for a short TTL so a turn does not read them from the
// database every time. Edits through the API take effect within the TTL.
type configCache struct {
	st store.Store
	c  *ttlcache.Cache
}

func newConfigCache(st store.Store, ttl time.Duration) *configCache {
	return &configCache{st: st, c: ttlcache.New(ttl, nil)}
}

func (c *configCache) get(key string, load func() (any, error)) (any, error) {
	return c.c.Get(key, load)
}

func (c *configCache) stage(ctx context.Context, projectID, id string) (*store.Stage, error) {
	v, err := c.get("s\x00"+projectID+"\x00"+id, func() (any, error) { return c.st.GetStage(ctx, projectID, id) })
	if err != nil {
		return nil, err
	}
	return v.(*store.Stage), nil
}

func (c *configCache) agent(ctx context.Context, projectID, id string) (*store.Agent, error) {
	v, err := c.get("a\x00"+projectID+"\x00"+id, func() (any, error) { return c.st.GetAgent(ctx, projectID, id) })
	if err != nil {
		return nil, err
	}
	return v.(*store.Agent), nil
}

// twilio returns a channel provider's parsed Twilio config; parsing is
// cached with the provider, not repeated per turn.
func (c *configCache) twilio(ctx context.Context, id string) (*providers.TwilioConfig, error) {
	v, err := c.get("t\x00"+id, func() (any, error) {
		p, err := c.provider(ctx, id)
		if err != nil {
			return nil, err
		}
		return providers.ParseTwilio(p.Config)
	})
	if err != nil {
		return nil, err
	}
	return v.(*providers.TwilioConfig), nil
}

func (c *configCache) provider(ctx context.Context, id string) (*store.Provider, error) {
	v, err := c.get("p\x00"+id, func() (any, error) { return c.st.GetProvider(ctx, id) })
	if err != nil {
		return nil, err
	}
	return v.(*store.Provider), nil
}

// projectConf is what turns read of a project: its timezone (loaded from
// the tz database once per cache period) and its token caps.
type projectConf struct {
	loc   *time.Location
	costs *store.CostManagementConfig
}

// project returns a project's projectConf. A project that cannot be read
// gets UTC and no caps: the prompt's clock and the caps never hold a reply
// back.
func (c *configCache) project(ctx context.Context, projectID string) projectConf {
	v, err := c.get("z\x00"+projectID, func() (any, error) {
		p, err := c.st.GetProject(ctx, projectID)
		if err != nil {
			return nil, err
		}
		pc := projectConf{loc: p.Location()}
		if len(p.CostManagementConfig) > 0 {
			// Stored normalised; a config that no longer parses caps nothing.
			pc.costs, _, _ = store.ParseCostManagementConfig(p.CostManagementConfig)
		}
		return pc, nil
	})
	if err != nil {
		return projectConf{loc: time.UTC}
	}
	return v.(projectConf)
}

// location returns a project's timezone for the prompt's time.
func (c *configCache) location(ctx context.Context, projectID string) *time.Location {
	return c.project(ctx, projectID).loc
}

// projectCosts returns a project's token caps (nil for none).
func (c *configCache) projectCosts(ctx context.Context, projectID string) *store.CostManagementConfig {
	return c.project(ctx, projectID).costs
}
