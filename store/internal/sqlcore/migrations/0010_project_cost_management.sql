-- Bonsai's project-level LLM token caps (costManagementConfig): JSON text,
-- NULL (every existing project) for none. The engine reads the completion
-- caps of the stage's provider and model for each turn (store/costs.go).
ALTER TABLE projects ADD COLUMN cost_management_config TEXT;
