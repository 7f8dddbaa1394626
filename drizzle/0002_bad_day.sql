ALTER TABLE `replicas` ADD `fence_site_id` integer;--> statement-breakpoint
ALTER TABLE `replicas` ADD `operation` text;--> statement-breakpoint
ALTER TABLE `replicas` ADD `paused_by_tandem` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `replicas` ADD `conflict` text;--> statement-breakpoint
ALTER TABLE `sites` ADD `last_seen_at` integer;--> statement-breakpoint
ALTER TABLE `task_steps` ADD `result` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `locks` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `attempts` integer DEFAULT 1 NOT NULL;