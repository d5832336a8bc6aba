package api

import (
	"slices"
	"strings"

	"switchboard/store"
)

// A conversation list takes filters and orders on the fields of Bonsai's
// conversation shape (conversation_view.go). Those that are stored under
// another name are renamed; those Switchboard derives (status in Bonsai's
// vocabulary, endingStageId) are rewritten onto stored fields here, and
// direction's values are checked here, before the store checks and applies
// the rest.

// conversationAliases are Bonsai fields that are a stored field under
// another name (conversationView says why).
var conversationAliases = map[string]string{
	"sessionId":       "id",
	"startingStageId": "stageId",
	"clientId":        "channelProviderId",
}

// conversationDerived are the fields conversationOptions evaluates itself,
// for checking their filters.
var conversationDerived = store.ListFields{"status": store.KindText, "direction": store.KindText, "endingStageId": store.KindText}

// conversationOptions rewrites the Bonsai fields of a conversation list's
// options onto stored fields. It answers false when no conversation can
// match (the page is empty).
func conversationOptions(opts *store.ListOptions) (bool, error) {
	for i, o := range opts.OrderBy {
		switch o.Field {
		case "endingStageId":
			// Null (not ended) sorts first; among the ended, by stage.
			opts.OrderBy[i].Field = "stageId"
		default:
			if a, ok := conversationAliases[o.Field]; ok {
				opts.OrderBy[i].Field = a
			}
		}
	}
	for i, f := range opts.Filters {
		if a, ok := conversationAliases[f.Field]; ok {
			opts.Filters[i].Field = a
		}
	}
	derived := &store.ListOptions{}
	for _, field := range []string{"status", "direction", "endingStageId"} {
		derived.Filters = append(derived.Filters, takeFilters(opts, field)...)
	}
	if err := derived.Check(conversationDerived); err != nil {
		return false, err
	}
	for _, f := range derived.Filters {
		switch f.Field {
		case "direction":
			// Stored (conversations.direction); checked here so that a
			// typo is a 400 rather than an empty page.
			if err := knownValues(f, []string{store.DirectionIncoming, store.DirectionOutgoing}); err != nil {
				return false, err
			}
			opts.Filters = append(opts.Filters, f)
		case "status":
			if err := knownValues(f, bonsaiStatuses); err != nil {
				return false, err
			}
			var stored []string
			for _, s := range []string{store.ConversationActive, store.ConversationFinished} {
				if f.MatchText(bonsaiStatus(s)) {
					stored = append(stored, s)
				}
			}
			if len(stored) == 0 {
				return false, nil
			}
			opts.Filters = append(opts.Filters, store.Filter{Field: "status", Op: store.OpIn, Values: stored})
		case "endingStageId":
			// Null until the conversation has ended: a comparison with
			// null matches nothing, as in SQL.
			opts.Filters = append(opts.Filters,
				store.Filter{Field: "status", Op: store.OpEq, Values: []string{store.ConversationFinished}},
				store.Filter{Field: "stageId", Op: f.Op, Values: f.Values})
		}
	}
	return true, nil
}

// knownValues rejects an eq, ne, in or nin filter naming a value outside
// allowed (a typo would otherwise silently match nothing, or everything).
func knownValues(f store.Filter, allowed []string) error {
	switch f.Op {
	case store.OpEq, store.OpNe, store.OpIn, store.OpNin:
		for _, v := range f.Values {
			if !slices.Contains(allowed, v) {
				return store.FieldError(store.FilterName(f.Field), "unknown %s %q; one of %s", f.Field, v, strings.Join(allowed, ", "))
			}
		}
	}
	return nil
}
