CREATE TABLE `alert_channels` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`kind` text NOT NULL,
	`name` text NOT NULL,
	`config` text NOT NULL,
	`sealed_secret` text,
	`enabled` integer DEFAULT true NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `alert_deliveries` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`alert_id` integer,
	`channel_id` integer NOT NULL,
	`event` text NOT NULL,
	`state` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer,
	`last_error` text,
	`sent_at` integer,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`alert_id`) REFERENCES `alerts`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`channel_id`) REFERENCES `alert_channels`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `alert_deliveries_state_idx` ON `alert_deliveries` (`state`,`next_attempt_at`);--> statement-breakpoint
CREATE TABLE `alert_silences` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`matcher` text NOT NULL,
	`until` integer NOT NULL,
	`reason` text,
	`created_by` text NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `alerts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`rule` text NOT NULL,
	`subject` text NOT NULL,
	`key` text NOT NULL,
	`severity` text NOT NULL,
	`state` text NOT NULL,
	`summary` text NOT NULL,
	`detail` text,
	`fired_at` integer NOT NULL,
	`last_seen_at` integer NOT NULL,
	`resolved_at` integer,
	`acked_by` text,
	`acked_at` integer
);
--> statement-breakpoint
CREATE INDEX `alerts_key_idx` ON `alerts` (`key`,`state`);--> statement-breakpoint
CREATE INDEX `alerts_fired_idx` ON `alerts` (`fired_at`);--> statement-breakpoint
CREATE TABLE `api_tokens` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`hash` text NOT NULL,
	`prefix` text NOT NULL,
	`scope` text NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`last_used_at` integer,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_tokens_hash_uq` ON `api_tokens` (`hash`);--> statement-breakpoint
CREATE TABLE `protection_samples` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`subject` text NOT NULL,
	`resolution` text NOT NULL,
	`at` integer NOT NULL,
	`window_sec` integer,
	`bytes_per_second` integer,
	`sync_seconds` integer,
	`count` integer DEFAULT 1 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `protection_samples_subject_idx` ON `protection_samples` (`subject`,`resolution`,`at`);--> statement-breakpoint
CREATE INDEX `protection_samples_at_idx` ON `protection_samples` (`resolution`,`at`);--> statement-breakpoint
CREATE TABLE `rpo_targets` (
	`scope` text PRIMARY KEY NOT NULL,
	`seconds` integer NOT NULL,
	`updated_by` text NOT NULL,
	`updated_at` integer NOT NULL
);
