CREATE TABLE `replicas` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`vm_name` text NOT NULL,
	`source_site_id` integer NOT NULL,
	`target_site_id` integer NOT NULL,
	`root_zpool` text NOT NULL,
	`disk_zpools` text NOT NULL,
	`datasets` text NOT NULL,
	`vm_definition` text,
	`reserve_resources` integer NOT NULL,
	`vcpus` integer NOT NULL,
	`memory_mib` integer NOT NULL,
	`sleep_time_sec` integer NOT NULL,
	`enabled` integer NOT NULL,
	`bandwidth_limit` integer,
	`keep_snapshots` integer NOT NULL,
	`state` text NOT NULL,
	`last_sync_at` integer,
	`last_snapshot` text,
	`last_sync_bytes` integer,
	`next_sync_at` integer,
	`failure_count` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`stop_old_master_pending` integer DEFAULT false NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`updated_at` integer,
	FOREIGN KEY (`source_site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`target_site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `replicas_vm_name_uq` ON `replicas` (`source_site_id`,`vm_name`,`name`);--> statement-breakpoint
CREATE INDEX `replicas_target_idx` ON `replicas` (`target_site_id`);